"""The integration tier. Tests in live/ and containers/ need the real services and run only under
``make test-integration`` (tests.integration.plugin sets CELLPOSEWEB_INTEGRATION); the other tests
here check deployment files and run everywhere."""
import os

collect_ignore_glob = [] if os.environ.get("CELLPOSEWEB_INTEGRATION") == "1" else ["live/*", "containers/*"]
