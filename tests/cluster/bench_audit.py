"""`winpod audit` over a stand-in cluster of many pods: wall time, peak memory, the summary.

    .venv/bin/python -m tests.cluster.bench_audit [--pods 10000] [--namespaces 20]
        [--page-size 500] [--format policyreport|text|json|sarif]

The stand-in apiserver (tests/cluster/standin.py, not Kubernetes) runs in this process; the
audit runs as a separate `python -m winpod.cli audit` process under /usr/bin/time, whose maximum
resident set size is winpod's alone. (Not getrusage(RUSAGE_CHILDREN) here: Linux carries the
forking process's RSS high-water mark across fork+exec, so a child of this process, which holds
the stand-in's pods, would report this process's memory.) Per namespace the pods are: 60% Linux (clean), 20% owned by a
ReplicaSet (covered by its template), 10% Windows with a Memory emptyDir (warn), 10% Windows
privileged (deny); plus a Deployment per namespace whose template reaches Windows through the
windows-2022 RuntimeClass and is privileged (deny), and its ReplicaSet.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.cluster.conftest import WINDOWS_RUNTIME_CLASS  # noqa: E402
from tests.cluster.standin import StandinAPIServer  # noqa: E402
from tests.cluster.workloads import deployment, pod, replica_set  # noqa: E402


def populate(api: StandinAPIServer, pods: int, namespaces: int) -> None:
    api.put("runtimeclasses", WINDOWS_RUNTIME_CLASS)
    names = [f"team-{i:02}" for i in range(namespaces)]
    api.put_many("namespaces", [{"metadata": {"name": ns}} for ns in names])
    api.put_many(
        "deployments",
        [deployment(ns, "app", runtime_class="windows-2022", privileged=True) for ns in names],
    )
    api.put_many(
        "replicasets", [replica_set(ns, "app-1", "app", "windows", privileged=True) for ns in names]
    )

    def make(i: int) -> dict[str, object]:
        ns, kind = names[i % namespaces], (i // namespaces) % 10
        name = f"pod-{i:06}"
        if kind < 6:
            return pod(ns, name, "linux")
        if kind < 8:
            return pod(
                ns, name, "windows", privileged=True, owner=("apps/v1", "ReplicaSet", "app-1")
            )
        if kind == 8:
            return pod(ns, name, "windows", memory_medium=True)
        return pod(ns, name, "windows", privileged=True)

    api.put_many("pods", (make(i) for i in range(pods)))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pods", type=int, default=10_000)
    parser.add_argument("--namespaces", type=int, default=20)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--format", default="policyreport")
    args = parser.parse_args()

    with StandinAPIServer() as api, tempfile.TemporaryDirectory() as tmp:
        started = time.monotonic()
        populate(api, args.pods, args.namespaces)
        print(
            f"stand-in: {args.pods:,} pods in {args.namespaces} namespaces, loaded in "
            f"{time.monotonic() - started:.1f} s",
            flush=True,
        )
        kubeconfig = api.write_kubeconfig(Path(tmp) / "kubeconfig")
        output = Path(tmp) / "audit.out"
        command = [
            sys.executable,
            "-m",
            "winpod.cli",
            "audit",
            "--kubeconfig",
            str(kubeconfig),
            "--format",
            args.format,
            "--page-size",
            str(args.page_size),
        ]
        timing = Path(tmp) / "time.txt"
        with output.open("wb") as out:
            done = subprocess.run(
                ["/usr/bin/time", "-o", str(timing), "-f", "%e %U %S %M", *command],
                cwd=REPO,
                stdout=out,
                stderr=subprocess.PIPE,
                check=False,
            )
        wall, user, system, max_kib = timing.read_text().split()[-4:]
        print(f"command: python {' '.join(command[1:])}")
        print(
            f"exit code {done.returncode}; wall {wall} s; CPU user {user} s + sys {system} s; "
            f"peak RSS {int(max_kib) / 1024:.1f} MiB; "
            f"output {output.stat().st_size / 1e6:.1f} MB; "
            f"list requests {sum(1 for m, _, q in api.requests if m == 'GET' and q.get('limit'))}; "
            f"largest page {api.max_items_per_response} objects"
        )
        sys.stdout.write(done.stderr.decode())
        if args.format == "text":  # the summary is the output's last lines
            lines = output.read_text().splitlines()
            start = next(
                i
                for i in range(len(lines) - 1, -1, -1)
                if lines[i].startswith("winpod audit: listed")
            )
            print("\n".join(lines[start:]))
        if args.format == "policyreport":
            import yaml

            with output.open() as handle:
                docs = [d for d in yaml.load_all(handle, Loader=yaml.CSafeLoader) if d]
            totals = {
                k: sum(d["summary"][k] for d in docs)
                for k in ("pass", "fail", "warn", "error", "skip")
            }
            print(f"PolicyReports: {len(docs)}; summed summary {totals}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
