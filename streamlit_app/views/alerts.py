"""Alerts: one row per incident (expandable to its series) with acknowledge-with-a-verdict and silence from the row,
each rule's measured precision, the active silences, and anomalies of the store that no incident holds yet.

Everything is read from and written to the incident store (``lupus_store.incidents.IncidentStore``), the one the
alert sensor, the API and ``lupus incidents`` / ``lupus silence`` use.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pandas as pd
import streamlit as st

from lupus_metrics.errors import LupusValidationError
from lupus_store.incidents import IncidentStore, IncidentView
from lupus_store.metadata.models import VERDICTS
from streamlit_app import access, alert_items, formats, incident_board, queries, tables
from streamlit_app.view_state import context, readable

EXPANDED_LIMIT = 25  # incidents with their own section (series, acknowledge, silence); older ones are in the table

user, db, root = context()
store = IncidentStore(db, upgrade=False)
today = queries.today()
st.title("Alerts")
names = readable(user, db, root)
writable = access.writable_datasources(db, user, names)  # acknowledge and silence need write access
flash = st.session_state.pop("alerts_flash", None)
if flash:
    st.success(flash)

filter_cols = st.columns(2)
days = filter_cols[0].selectbox(
    "Period", [7, 30, 90, 365], index=2, format_func=lambda d: f"last {d} days", key="alerts_days"
)
show = filter_cols[1].segmented_control(
    "Show", ["active", "all"], default="all", key="alerts_show", help="active: open and acknowledged incidents"
)
incidents = store.incidents(
    datasources=names, status="active" if show == "active" else None, since=today - timedelta(days=days)
) if names else []  # fmt: skip


def _member_rows(incident: IncidentView) -> pd.DataFrame:
    rows = []
    for m in incident.members:
        kind = formats.metric_kind(m.metric if m.kind == "anomaly" else None)
        value = formats.format_value(m.alert.value, kind) if m.alert.value is not None else ""
        expected = formats.format_value(m.alert.expected, kind) if m.alert.expected is not None else ""
        what = incident_board.segment(m.labels) if m.kind == "anomaly" else (m.alert.detail or m.alert.check or "")
        link = alert_items.relative_link(m.alert.link)
        rows.append(
            {
                "day": m.day.isoformat(), "kind": m.kind, "metric": m.metric or "", "series": what, "value": value,
                "expected": expected, "change": formats.format_change(m.alert.value, m.alert.expected),
                "rule": m.rule or "", "status": m.status, "chart": "Open chart" if link else "", "link": link,
            }
        )  # fmt: skip
    return pd.DataFrame(rows)


if not incidents:
    st.success("No incident in this period." if names else "You cannot read any datasource yet.")
else:
    board = pd.DataFrame([incident_board.board_row(i, today=today).as_dict() for i in incidents])
    board = board.assign(note=[i.note or "" for i in incidents], members=[len(i.members) for i in incidents])
    st.caption(f"{len(incidents)} incidents · newest first, open and acknowledged before resolved")
    columns = ["incident", "datasource", "headline", "since", "change", "members", "status", "verdict", "note",
               "team", "chart", "link"]  # fmt: skip
    badges = {"status": incident_board.STATUS_COLORS}
    short = ["incident", "datasource", "change", "members", "status", "verdict", "team", "chart"]
    st.html(
        tables.html_table(board[columns], links={"chart": "link"}, badges=badges, css_class="incidents", nowrap=short)
    )
    for incident in incidents[:EXPANDED_LIMIT]:
        title = f"#{incident.id} · {incident.status} · {incident.headline}"
        with st.expander(title, expanded=False):
            members = _member_rows(incident)
            st.html(
                tables.html_table(
                    members,
                    links={"chart": "link"},
                    css_class=f"members incident-{incident.id}",
                    nowrap=["day", "kind", "metric", "value", "expected", "change", "rule", "status", "chart"],
                )
            )
            if incident.verdict:
                by = f" by {incident.acknowledged_by}" if incident.acknowledged_by else ""
                st.caption(f"Verdict: **{incident_board.VERDICT_TEXT[incident.verdict]}**{by}"
                           + (f" · note: {incident.note}" if incident.note else ""))  # fmt: skip
            if incident.datasource not in writable:
                st.caption(
                    f"Acknowledging and silencing need write access to `{incident.datasource}` "
                    "(its owner team or a write permission)."
                )
                continue
            ack_col, silence_col = st.columns(2)
            with ack_col.form(f"ack_form_{incident.id}", border=True):
                st.markdown("**Acknowledge**")
                verdict = st.radio(
                    "Verdict", VERDICTS, format_func=incident_board.VERDICT_TEXT.get, horizontal=True,
                    index=VERDICTS.index(incident.verdict) if incident.verdict else 0, key=f"ack_verdict_{incident.id}",
                )  # fmt: skip
                note = st.text_input("Note", key=f"ack_note_{incident.id}", placeholder="e.g. planned model release")
                if st.form_submit_button("Acknowledge", key=f"ack_button_{incident.id}"):
                    store.acknowledge(incident.id, verdict=verdict, by=user.username, note=note)
                    st.session_state["alerts_flash"] = (
                        f"Incident #{incident.id} acknowledged: {incident_board.VERDICT_TEXT[verdict]}."
                    )
                    st.rerun()
            draft = incident_board.silence_draft(incident)
            with silence_col.form(f"silence_form_{incident.id}", border=True):
                st.markdown("**Silence** alerts like these (recorded, not posted)")
                metric = st.text_input("Metric (glob)", value=draft.metric, key=f"silence_metric_{incident.id}",
                                       help="e.g. ranking.*; check:<name>, freshness and no_data for those alerts")  # fmt: skip
                labels_text = st.text_input(
                    "Labels", value=incident_board.labels_to_text(draft.labels), key=f"silence_labels_{incident.id}",
                    help="key=glob pairs separated by commas; empty matches every series",
                )  # fmt: skip
                end_cols = st.columns(2)
                tomorrow = datetime.now(UTC) + timedelta(days=1)
                end_day = end_cols[0].date_input("Until (UTC)", value=tomorrow.date(), key=f"silence_day_{incident.id}")
                end_time = end_cols[1].time_input(
                    "at", value=time(tomorrow.hour, 0), key=f"silence_time_{incident.id}", label_visibility="hidden"
                )  # fmt: skip
                reason = st.text_input(
                    "Reason", key=f"silence_reason_{incident.id}", placeholder="e.g. fix rolling out"
                )
                if st.form_submit_button("Silence", key=f"silence_button_{incident.id}"):
                    try:
                        silence = store.add_silence(
                            datasource=draft.datasource, product=draft.product, metric=metric,
                            labels=incident_board.labels_from_text(labels_text), author=user.username, reason=reason,
                            ends_at=datetime.combine(end_day, end_time, tzinfo=UTC),
                        )  # fmt: skip
                    except (LupusValidationError, ValueError) as error:
                        st.error(f"Silence not saved: {error}")
                    else:
                        st.session_state["alerts_flash"] = (
                            f"Silence #{silence.id} saved until {silence.ends_at:%Y-%m-%d %H:%M} UTC."
                        )
                        st.rerun()
    if len(incidents) > EXPANDED_LIMIT:
        st.caption(f"Series, acknowledge and silence are shown for the newest {EXPANDED_LIMIT} incidents.")

st.subheader("Rule precision")
precision = store.rule_precision(datasources=names) if names else []
if not precision:
    st.caption("No incident judged yet.")
else:
    frame = pd.DataFrame([p.to_json() for p in precision]).rename(columns={"false_alarm": "false alarms"})
    frame["precision"] = [
        "not judged yet" if p.precision is None else f"{p.precision:.0%} ({p.real} of {p.judged} real)"
        for p in precision
    ]
    st.html(tables.html_table(frame, css_class="precision"))
    st.caption("Precision = incidents judged real / incidents judged, per rule (acknowledge with a verdict above).")

st.subheader("Active silences")
active = store.silences(datasources=names, active_at=datetime.now(UTC)) if names else []
if not active:
    st.caption("None.")
else:
    frame = pd.DataFrame(
        [{"silence": f"#{s.id}", "datasource": s.datasource, "product": s.product or "any", "metric": s.metric,
          "labels": incident_board.labels_to_text(s.labels), "until": f"{s.ends_at:%Y-%m-%d %H:%M} UTC",
          "author": s.author, "reason": s.reason} for s in active]
    )  # fmt: skip
    st.html(tables.html_table(frame, css_class="silences"))
    endable = [s.id for s in active if s.datasource in writable]
    ending = st.selectbox("End a silence now", [None, *endable], key="silence_end_pick",
                          format_func=lambda i: "—" if i is None else f"#{i}") if endable else None  # fmt: skip
    if ending is not None and st.button("End silence", key="silence_end_button"):
        store.expire_silence(ending)
        st.session_state["alerts_flash"] = f"Silence #{ending} ended."
        st.rerun()

# Anomalies in the store that no incident holds (the alert sensor has not run on them, or they are older than
# its cursor): shown so that a metrics run without the sensor still shows what it found.
st.subheader("Anomalies not in an incident")
since = today - timedelta(days=min(days, 30))
known = {(m.series_id, m.day) for i in store.incidents(datasources=names, since=since) for m in i.members}
loose = alert_items.loose_anomalies({name: queries.anomalies(root, name, since, None) for name in names}, known=known)
if loose.empty:
    st.caption(f"None since {since}.")
else:
    st.html(tables.html_table(loose, links={"chart": "link"}, css_class="loose", nowrap=["day", "change", "chart"]))
