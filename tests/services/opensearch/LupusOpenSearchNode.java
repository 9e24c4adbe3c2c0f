import java.io.InputStream;

import org.codelibs.opensearch.runner.OpenSearchRunner;

/**
 * A single OpenSearch 2.19 node bound to 127.0.0.1, for the test suite.
 *
 * Usage: java -cp "<jars>/*" LupusOpenSearchNode.java BASE_PATH HTTP_PORT TRANSPORT_PORT
 * Prints "LUPUS_OPENSEARCH_READY" once the cluster is yellow, then runs until its standard
 * input closes: the Python fixture holds that pipe, so the node dies with the test run
 * even when pytest is killed.
 */
public class LupusOpenSearchNode {
    public static void main(String[] args) throws Exception {
        String basePath = args[0];
        String httpPort = args[1];
        String transportPort = args[2];
        OpenSearchRunner runner = new OpenSearchRunner();
        // The runner otherwise probes 9201..9299 for a free HTTP port; the fixture picks the port.
        runner.setMaxHttpPort(-1);
        runner.onBuild((index, settings) -> {
            settings.put("network.host", "127.0.0.1");
            settings.put("http.port", httpPort);
            settings.put("transport.port", transportPort);
            settings.put("discovery.type", "single-node");
            // The runner's default roles leave out ingest; the fault tests reject documents with a pipeline.
            settings.putList("node.roles", "cluster_manager", "data", "ingest");
            // Shared CI disks can be nearly full; the watermarks would block writes.
            settings.put("cluster.routing.allocation.disk.threshold_enabled", "false");
        });
        runner.build(OpenSearchRunner.newConfigs().basePath(basePath).numOfNode(1).clusterName("lupus-test"));
        runner.ensureYellow();
        System.out.println("LUPUS_OPENSEARCH_READY");
        System.out.flush();
        InputStream in = System.in;
        byte[] buffer = new byte[64];
        while (in.read(buffer) >= 0) {
            // Only the end of input matters.
        }
        runner.close();
        System.exit(0);
    }
}
