"""What the live view serves while its watches break: a timeline against the stand-in apiserver.

    .venv/bin/python -m tests.cluster.demo_recovery

A thread evaluates a Deployment (runtimeClassName windows-2022, a privileged container) with the
view's RuntimeClasses every 10 ms, as the webhook's request path would, while the stand-in
apiserver (tests/cluster/standin.py, not Kubernetes) drops every connection, answers 410 Gone,
and goes away for three seconds. Each phase prints the verdicts served, the view's readiness,
its staleness metric and the relist/restart counters.
"""

from __future__ import annotations

import collections
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from prometheus_client import CollectorRegistry  # noqa: E402
from winpod.cluster.backoff import Backoff  # noqa: E402
from winpod.cluster.client import make_api_client  # noqa: E402
from winpod.cluster.view import ClusterCacheView  # noqa: E402
from winpod.config import Config  # noqa: E402
from winpod.engine.evaluate import Engine  # noqa: E402

from tests.cluster.conftest import WINDOWS_RUNTIME_CLASS  # noqa: E402
from tests.cluster.standin import StandinAPIServer  # noqa: E402
from tests.cluster.workloads import deployment  # noqa: E402

DEPLOYMENT = deployment("shop", "web", runtime_class="windows-2022", privileged=True)


REGISTRY = CollectorRegistry()  # the webhook registers the view in its own registry the same way


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def main() -> int:
    engine = Engine()
    verdicts: collections.Counter[str] = collections.Counter()
    stop = threading.Event()
    with StandinAPIServer() as api, tempfile.TemporaryDirectory() as tmp:
        api.put("runtimeclasses", WINDOWS_RUNTIME_CLASS)
        kubeconfig = api.write_kubeconfig(Path(tmp) / "kubeconfig")
        view = ClusterCacheView(
            Config(),
            lambda: make_api_client(str(kubeconfig)),
            backoff=lambda: Backoff(initial=0.2, cap=2.0),
        ).start()
        REGISTRY.register(view)

        def request_path() -> None:
            while not stop.is_set():
                result = engine.evaluate(DEPLOYMENT, runtime_classes=view.runtime_classes())
                verdicts["deny" if result.denied else "allow"] += 1
                time.sleep(0.01)

        def phase(title: str, seconds: float) -> None:
            verdicts.clear()
            time.sleep(seconds)
            stale = metric("winpod_cluster_cache_staleness_seconds", resource="runtimeclasses")
            print(
                f"{title:<46} verdicts {dict(verdicts)}  ready={view.ready()}  "
                f"staleness={stale:.1f}s  relists={metric('winpod_cluster_relists_total', resource='runtimeclasses', reason='expired'):.0f} "
                f"(expired) watch restarts={metric('winpod_cluster_watch_restarts_total', resource='runtimeclasses', reason='error'):.0f} (error)",
                flush=True,
            )

        view.wait_ready(10)
        while not all(r.connected for r in view.reflectors.values()):
            time.sleep(0.01)
        worker = threading.Thread(target=request_path)
        worker.start()
        phase("synced", 1.0)
        api.drop_connections()
        phase("every connection dropped (reconnect, backoff)", 1.0)
        api.send_watch_expired()
        phase("410 Gone ERROR event (relist)", 1.0)
        api.stop()
        phase("apiserver down, 1.5 s", 1.5)
        phase("apiserver down, 3 s", 1.5)
        api.delete("runtimeclasses", "windows-2022")  # changes while winpod cannot see them
        api.start()
        phase("apiserver back; windows-2022 deleted meanwhile", 3.0)
        stop.set()
        worker.join()
        view.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
