"""evaluate_ranking / ranking_per_user: TREC semantics, checked against ranx and pytrec_eval."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import pytrec_eval
from hypothesis import given, settings
from hypothesis import strategies as st
from ranx import Qrels, Run
from ranx import evaluate as ranx_evaluate

from lupus_metrics.errors import LupusValidationError
from lupus_metrics.evaluation import evaluate_ranking, ranking_per_user
from lupus_metrics.frames import normalize_points

TS = "2026-01-01"
KS = [1, 3, 5, 10]
RANX_NAMES = {
    "ndcg": "ndcg",
    "map": "map",
    "mrr": "mrr",
    "recall": "recall",
    "precision": "precision",
    "hit_rate": "hit_rate",
}


def random_case(
    seed: int, n_users: int = 30, n_items: int = 40, max_list: int = 15
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Distinct scores per user (so every library orders lists the same), graded relevance 0..3."""
    rng = np.random.default_rng(seed)
    recs, rels = [], []
    for u in range(n_users):
        n = int(rng.integers(1, max_list + 1))
        items = rng.choice(n_items, n, replace=False)
        scores = rng.permutation(10_000)[:n] / 10_000
        recs += [(f"u{u}", f"d{i}", float(s)) for i, s in zip(items, scores, strict=True)]
        judged = rng.choice(n_items, int(rng.integers(0, 10)), replace=False)
        rels += [(f"u{u}", f"d{i}", int(rng.integers(0, 4))) for i in judged]
    return (
        pd.DataFrame(recs, columns=["user", "item", "score"]),
        pd.DataFrame(rels, columns=["user", "item", "relevance"]),
    )


def as_trec(recs: pd.DataFrame, rels: pd.DataFrame) -> tuple[dict, dict]:
    qrels = {u: {i: int(r) for i, r in zip(g["item"], g["relevance"], strict=True)} for u, g in rels.groupby("user")}
    run = {u: {i: float(s) for i, s in zip(g["item"], g["score"], strict=True)} for u, g in recs.groupby("user")}
    return qrels, run


def judged_users(ours: pd.DataFrame, qrels: dict) -> list[str]:
    return [u for u in ours.index if u in qrels and ours.loc[u, "n_relevant"] > 0]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), gain=st.sampled_from(["linear", "exponential"]))
def test_per_user_metrics_agree_with_ranx(seed: int, gain: str) -> None:
    recs, rels = random_case(seed)
    ours = ranking_per_user(recs, rels, k=KS, gain=gain)
    qrels, run = as_trec(recs, rels)
    users = judged_users(ours, qrels)
    qrels = {u: qrels[u] for u in users}
    names = [
        f"{RANX_NAMES[m] if m != 'ndcg' or gain == 'linear' else 'ndcg_burges'}@{k}" for k in KS for m in RANX_NAMES
    ]
    theirs = ranx_evaluate(Qrels(qrels), Run({u: run[u] for u in users}), names, return_mean=False)
    order = list(Qrels(qrels).qrels.keys())
    for name in names:
        ours_name = name.replace("ndcg_burges", "ndcg")
        np.testing.assert_allclose(ours.loc[order, ours_name], theirs[name], rtol=0, atol=1e-9, err_msg=name)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_per_user_metrics_agree_with_pytrec_eval(seed: int) -> None:
    recs, rels = random_case(seed)
    ours = ranking_per_user(recs, rels, k=KS)
    qrels, run = as_trec(recs, rels)
    cut = ",".join(map(str, KS))
    theirs = pytrec_eval.RelevanceEvaluator(
        qrels, {f"ndcg_cut.{cut}", f"map_cut.{cut}", f"P.{cut}", f"recall.{cut}"}
    ).evaluate(run)
    for user in judged_users(ours, qrels):
        for k in KS:
            for ours_name, trec_name in (
                ("ndcg", "ndcg_cut"),
                ("map", "map_cut"),
                ("precision", "P"),
                ("recall", "recall"),
            ):
                assert ours.loc[user, f"{ours_name}@{k}"] == pytest.approx(theirs[user][f"{trec_name}_{k}"], abs=1e-9)


def test_reciprocal_rank_without_cut_agrees_with_pytrec_eval() -> None:
    recs, rels = random_case(7, max_list=10)
    ours = ranking_per_user(recs, rels, k=10, metrics=["mrr"])
    qrels, run = as_trec(recs, rels)
    theirs = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(run)
    for user in judged_users(ours, qrels):
        assert ours.loc[user, "mrr@10"] == pytest.approx(theirs[user]["recip_rank"], abs=1e-12)


def test_mean_skips_users_without_relevant_items_by_default() -> None:
    recs, rels = random_case(3)
    per_user = ranking_per_user(recs, rels, k=5, metrics=["ndcg"])
    points = evaluate_ranking(recs, rels, k=5, metrics=["ndcg"], ts=TS).set_index("metric")
    judged = per_user[per_user["n_relevant"] > 0]
    assert points.loc["ranking.ndcg", "value"] == pytest.approx(judged["ndcg@5"].mean(), abs=1e-12)
    assert points.loc["ranking.users", "value"] == len(judged)
    assert points.loc["ranking.users_no_relevant", "value"] == len(per_user) - len(judged)


def test_no_relevant_zero_counts_those_users_as_zero() -> None:
    recs, rels = random_case(4)
    per_user = ranking_per_user(recs, rels, k=5, metrics=["recall"])
    points = evaluate_ranking(recs, rels, k=5, metrics=["recall"], no_relevant="zero", ts=TS).set_index("metric")
    assert points.loc["ranking.recall", "value"] == pytest.approx(per_user["recall@5"].sum() / len(per_user), abs=1e-12)
    assert points.loc["ranking.users", "value"] == len(per_user)


def test_ties_are_broken_by_item_ascending() -> None:
    recs = pd.DataFrame({"user": ["u"] * 3, "item": ["c", "a", "b"], "score": [1.0, 1.0, 1.0]})
    rels = pd.DataFrame({"user": ["u"], "item": ["b"], "relevance": [1]})
    assert ranking_per_user(recs, rels, k=3, metrics=["mrr"])["mrr@3"].iloc[0] == pytest.approx(1 / 2)


def test_precision_divides_by_k_even_for_short_lists() -> None:
    recs = pd.DataFrame({"user": ["u", "u"], "item": [1, 2], "score": [0.9, 0.1]})
    rels = pd.DataFrame({"user": ["u", "u"], "item": [1, 2], "relevance": [1, 1]})
    assert ranking_per_user(recs, rels, k=10, metrics=["precision"])["precision@10"].iloc[0] == pytest.approx(0.2)


def test_ideal_dcg_counts_relevant_items_never_recommended() -> None:
    recs = pd.DataFrame({"user": ["u"], "item": ["a"], "score": [1.0]})
    rels = pd.DataFrame({"user": ["u", "u"], "item": ["a", "z"], "relevance": [1, 3]})
    expected = 1.0 / (3.0 + 1.0 / np.log2(3.0))
    assert ranking_per_user(recs, rels, k=2, metrics=["ndcg"])["ndcg@2"].iloc[0] == pytest.approx(expected, abs=1e-12)


def test_row_order_of_the_input_does_not_matter() -> None:
    recs, rels = random_case(5)
    shuffled = recs.sample(frac=1.0, random_state=0)
    a = ranking_per_user(recs, rels, k=KS).sort_index()
    b = ranking_per_user(shuffled, rels, k=KS).sort_index()
    pd.testing.assert_frame_equal(a, b)


def test_very_uneven_list_lengths_give_the_same_values_as_ranx() -> None:
    recs, rels = random_case(6, n_users=20, max_list=3)
    rng = np.random.default_rng(0)
    long_list = pd.DataFrame(
        {"user": "long", "item": [f"d{i}" for i in range(400)], "score": rng.permutation(400) / 400}
    )
    recs = pd.concat([recs, long_list], ignore_index=True)
    rels = pd.concat([rels, pd.DataFrame({"user": "long", "item": ["d5", "d17", "d300"], "relevance": [1, 2, 3]})])
    ours = ranking_per_user(recs, rels, k=KS)
    qrels, run = as_trec(recs, rels)
    users = judged_users(ours, qrels)
    qrels = {u: qrels[u] for u in users}
    theirs = ranx_evaluate(
        Qrels(qrels),
        Run({u: run[u] for u in users}),
        [f"ndcg@{k}" for k in KS] + [f"map@{k}" for k in KS],
        return_mean=False,
    )
    order = list(Qrels(qrels).qrels.keys())
    for name, values in theirs.items():
        np.testing.assert_allclose(ours.loc[order, name], values, rtol=0, atol=1e-9, err_msg=name)


def test_list_metrics_match_their_definitions() -> None:
    recs, rels = random_case(8)
    points = evaluate_ranking(recs, rels, k=3, metrics=["coverage", "entropy", "novelty"], ts=TS).set_index("metric")
    top3 = recs.sort_values(["user", "score"], ascending=[True, False]).groupby("user").head(3)
    counts = top3["item"].value_counts()
    shares = counts / counts.sum()
    catalog = len(set(recs["item"]) | set(rels["item"]))
    popular = rels[rels["relevance"] > 0]["item"].value_counts()
    n_judged = rels["user"].nunique()
    self_info = -np.log2((top3["item"].map(popular).fillna(0) + 1) / (n_judged + 1))
    assert points.loc["ranking.coverage", "value"] == pytest.approx(len(counts) / catalog, abs=1e-12)
    assert points.loc["ranking.entropy", "value"] == pytest.approx(-(shares * np.log2(shares)).sum(), abs=1e-12)
    assert points.loc["ranking.novelty", "value"] == pytest.approx(self_info.mean(), abs=1e-12)


def test_group_by_gives_the_mean_of_each_group() -> None:
    recs, rels = random_case(9)
    recs["region"] = np.where(recs["user"].str[1:].astype(int) % 2 == 0, "JP", "US")
    per_user = ranking_per_user(recs, rels, k=5, metrics=["ndcg"])
    region = recs.drop_duplicates("user").set_index("user")["region"]
    points = evaluate_ranking(recs, rels, k=5, metrics=["ndcg"], group_by="region", ts=TS)
    for name in ("JP", "US"):
        judged = per_user[(per_user["n_relevant"] > 0) & (region[per_user.index] == name).to_numpy()]
        value = points[(points["metric"] == "ranking.ndcg") & (points["labels"] == {"region": name, "k": "5"})]["value"]
        assert value.item() == pytest.approx(judged["ndcg@5"].mean(), abs=1e-12)


def test_points_are_storable_and_labelled_with_k() -> None:
    recs, rels = random_case(10)
    points = evaluate_ranking(recs, rels, k=[5, 10], ts=TS)
    stored = normalize_points(points, "service1-recommend")
    assert set(stored[stored["metric"] == "ranking.ndcg"]["labels"].map(lambda d: d["k"])) == {"5", "10"}


def test_every_user_skipped_leaves_out_the_user_means() -> None:
    recs = pd.DataFrame({"user": ["u"], "item": ["a"], "score": [1.0]})
    rels = pd.DataFrame({"user": ["u"], "item": ["a"], "relevance": [0]})
    points = evaluate_ranking(recs, rels, k=1, metrics=["ndcg", "coverage"], ts=TS)
    assert "ranking.ndcg" not in set(points["metric"])
    assert not points["value"].isna().any()


def test_duplicate_recommendation_is_rejected() -> None:
    recs = pd.DataFrame({"user": ["u", "u"], "item": ["a", "a"], "score": [1.0, 0.5]})
    rels = pd.DataFrame({"user": ["u"], "item": ["a"], "relevance": [1]})
    with pytest.raises(LupusValidationError, match=r"recommendations.*at most once"):
        evaluate_ranking(recs, rels, ts=TS)


def test_duplicate_judgment_is_rejected() -> None:
    recs = pd.DataFrame({"user": ["u"], "item": ["a"], "score": [1.0]})
    rels = pd.DataFrame({"user": ["u", "u"], "item": ["a", "a"], "relevance": [1, 2]})
    with pytest.raises(LupusValidationError, match=r"relevance.*one judgment"):
        evaluate_ranking(recs, rels, ts=TS)


@pytest.mark.parametrize(
    ("options", "where"),
    [
        ({"k": 0}, "k"),
        ({"metrics": ["auc"]}, "metrics"),
        ({"gain": "log"}, "gain"),
        ({"no_relevant": "drop"}, "no_relevant"),
    ],
)
def test_bad_options_name_the_argument(options: dict, where: str) -> None:
    recs = pd.DataFrame({"user": ["u"], "item": ["a"], "score": [1.0]})
    rels = pd.DataFrame({"user": ["u"], "item": ["a"], "relevance": [1]})
    with pytest.raises(LupusValidationError) as err:
        evaluate_ranking(recs, rels, ts=TS, **options)
    assert err.value.where == where


def test_missing_column_is_named() -> None:
    recs = pd.DataFrame({"user": ["u"], "item": ["a"]})
    with pytest.raises(LupusValidationError, match="score"):
        evaluate_ranking(recs, pd.DataFrame(columns=["user", "item", "relevance"]), ts=TS)


def test_equal_length_lists_in_user_order_match_the_shuffled_input() -> None:
    rng = np.random.default_rng(11)
    recs = pd.DataFrame(
        {"user": np.repeat(np.arange(40), 6), "item": np.tile(np.arange(6), 40), "score": rng.integers(0, 3, 240) / 2}
    )
    rels = pd.DataFrame({"user": np.arange(40), "item": rng.integers(0, 6, 40), "relevance": rng.integers(1, 3, 40)})
    grouped = ranking_per_user(recs, rels, k=KS)
    shuffled = ranking_per_user(recs.sample(frac=1.0, random_state=1), rels, k=KS)
    pd.testing.assert_frame_equal(grouped.sort_index(), shuffled.sort_index())


def test_empty_relevance_means_no_user_has_relevant_items() -> None:
    recs = pd.DataFrame({"user": ["u", "v"], "item": ["a", "b"], "score": [1.0, 1.0]})
    points = evaluate_ranking(recs, pd.DataFrame(columns=["user", "item", "relevance"]), k=1, ts=TS).set_index("metric")
    assert points.loc["ranking.users_no_relevant", "value"] == 2
    assert points.loc["ranking.coverage", "value"] == 1.0


@pytest.mark.parametrize("seed", [21, 22, 23])
def test_user_means_have_the_sd_of_pytrec_eval_per_user_values_over_root_users(seed: int) -> None:
    recs, rels = random_case(seed, n_users=60)
    recs["region"] = np.where(recs["user"].str[1:].astype(int) % 3 == 0, "JP", "US")
    points = evaluate_ranking(
        recs, rels, k=KS, metrics=["ndcg", "map", "precision", "recall"], group_by="region", ts=TS
    )
    qrels, run = as_trec(recs, rels)
    cut = ",".join(map(str, KS))
    theirs = pytrec_eval.RelevanceEvaluator(
        qrels, {f"ndcg_cut.{cut}", f"map_cut.{cut}", f"P.{cut}", f"recall.{cut}"}
    ).evaluate(run)
    region = recs.drop_duplicates("user").set_index("user")["region"]
    judged = [
        u for u in theirs if rels[(rels["user"] == u) & (rels["relevance"] > 0)].shape[0] > 0 and u in region.index
    ]
    for labels in ({}, {"region": "JP"}, {"region": "US"}):
        users = [u for u in judged if not labels or region[u] == labels["region"]]
        for k in KS:
            for ours_name, trec_name in (
                ("ndcg", "ndcg_cut"),
                ("map", "map_cut"),
                ("precision", "P"),
                ("recall", "recall"),
            ):
                values = np.array([theirs[u][f"{trec_name}_{k}"] for u in users])
                got = points[
                    (points["metric"] == f"ranking.{ours_name}") & (points["labels"] == {**labels, "k": str(k)})
                ].iloc[0]
                assert got["n"] == len(users)
                assert got["stderr"] == pytest.approx(np.std(values, ddof=1) / np.sqrt(len(users)), rel=1e-9, abs=1e-12)


def test_counts_and_list_metrics_have_n_and_no_stderr() -> None:
    recs, rels = random_case(24)
    points = evaluate_ranking(recs, rels, k=3, ts=TS).set_index("metric")
    served = recs["user"].nunique()
    for metric in ("ranking.coverage", "ranking.entropy", "ranking.novelty", "ranking.users_no_relevant"):
        assert points.loc[metric, "n"] == served and np.isnan(points.loc[metric, "stderr"]), metric
    assert points.loc["ranking.users", "n"] == points.loc["ranking.users", "value"]
