"""Under `dvc exp run`, a mistake in a data config is reported by the project, naming the
YAML file and key, never as DVC's complaint about the generated params.yaml (issue 10)."""

from __future__ import annotations

import yaml

from conftest import copy_repo, sh


def test_dvc_exp_run_reports_data_config_mistakes_not_params_yaml(tmp_path):
    """Through `dvc exp run -S data=<broken>`, the cohort stage's one line naming the YAML
    file and key, never DVC's complaint about the generated params.yaml."""
    root = copy_repo(tmp_path / "repo")
    base = yaml.safe_load((root / "conf/data/example_clinics.yaml").read_text())
    broken = {
        "no_source": ({k: v for k, v in base.items() if k != "source"}, "source: Field required"),
        "no_features": (
            {k: v for k, v in base.items() if k != "features"},
            "features: Field required",
        ),
        "typo_features": (
            {("featurs" if k == "features" else k): v for k, v in base.items()},
            "features: Field required; featurs: unknown key",
        ),
    }
    for name, (cfg, _) in broken.items():
        cfg["name"] = name
        (root / f"conf/data/{name}.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    sh(root, "git", "add", "-A")
    sh(root, "git", "commit", "-q", "-m", "broken data configs")
    runs = {name: [f"data={name}"] for name in broken} | {"seed": ["seed=-1"]}
    for name, overrides in runs.items():
        sets = [arg for o in overrides for arg in ("-S", o)]
        done = sh(root, "dvc", "exp", "run", *sets, check=False, timeout=300)
        output = done.stdout + done.stderr
        assert done.returncode != 0, output
        assert "missing from 'params.yaml'" not in output, output
        errors = [line for line in output.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1, output
        if name == "seed":
            assert "params.yaml: seed: Input should be greater than or equal to 0" in errors[0]
        else:
            assert errors[0] == f"error: data config conf/data/{name}.yaml: {broken[name][1]}"
        assert "exited with 2" in output
        assert not (root / "data/raw").exists()
