"""The README's configuration example is a valid config, and its first two commands are the ones
.ci/run and a new user run."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from winpod.config import Config
from winpod.engine.evaluate import Engine

ROOT = Path(__file__).resolve().parents[2]


def test_the_readme_config_example_loads_and_names_only_real_rules() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Configuration") :]
    block = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert block is not None
    config = Config.model_validate(yaml.safe_load(block.group(1)))
    Engine(config=config)  # refuses unknown rule ids


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = re.search(r"```sh\n(.*?)```", readme, re.S)
    assert commands is not None
    test_command = next(line for line in commands.group(1).splitlines() if "pytest" in line)
    assert test_command in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_the_local_webhook_recipe_uses_shipped_files_and_real_flags() -> None:
    import shlex

    from winpod.cli import build_parser

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Try the webhook locally") :]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None
    script = block.group(1).replace("\\\n", " ")
    parser = build_parser()
    for line in script.splitlines():
        words = shlex.split(line.replace("&", ""))
        if words and words[0] == ".venv/bin/winpod":
            args = [w.replace("$certs", "/tmp/x") for w in words[1:]]
            parser.parse_args(args)  # exits on an unknown flag
    assert (ROOT / "deploy" / "local" / "admission-review.json").is_file()
    assert (ROOT / "deploy" / "base" / "config.yaml").is_file()
