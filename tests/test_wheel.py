"""The built wheel: the engine and nothing else, working from a fresh virtual environment.

(`example_class` in conftest grades the whole example class with this installed wheel from a course folder.)
"""
from __future__ import annotations

import subprocess
import zipfile


def test_the_wheel_installs_only_the_engine(wheel_env):
    [wheel] = (wheel_env.parent / "dist").glob("grader-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == {"grader", wheel.name.split("-py3")[0] + ".dist-info"}
    assert "grader/templates/report.html.j2" in names and "grader/checks.py" in names
    assert not any(name.endswith((".ipynb", ".toml")) for name in names)


def test_the_installed_engine_has_no_course_in_it(wheel_env, tmp_path):
    python = str(wheel_env / "bin" / "python")
    where = subprocess.run([python, "-c", "import grader, importlib.util as u; print(grader.__file__); "
                                          "print(u.find_spec('reference'), u.find_spec('assignments'))"],
                           capture_output=True, text=True, cwd=tmp_path, check=True).stdout.splitlines()
    assert where[0].startswith(str(wheel_env)) and where[1] == "None None"
    helped = subprocess.run([str(wheel_env / "bin" / "grader"), "--help"], capture_output=True, text=True,
                            cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "COLUMNS": "200"})
    assert helped.returncode == 0, helped.stderr
    assert all(f" {name} " in helped.stdout for name in ("check", "release", "classroom", "site", "assign"))
    assert " data " not in helped.stdout and " reference " not in helped.stdout
