"""Converting the wheel's IR: bad inputs are named, and the bench reports the agreed keys."""

import json
import shutil
import subprocess
import sys

import pytest

from editor.model import CheckpointError
from editor.model.convert_default import convert, find_wheel_data


def test_missing_or_corrupt_ir_is_named(tmp_path):
    src = find_wheel_data()
    with pytest.raises(CheckpointError, match="MappingNetwork.xml"):
        convert(tmp_path / "out", data_dir=tmp_path)
    for f in src.iterdir():
        if f.suffix in (".xml", ".bin"):
            shutil.copy(f, tmp_path / f.name)
    (tmp_path / "SynthesisNetwork.xml").write_text("<net><layers>")  # cut short
    with pytest.raises(CheckpointError, match="SynthesisNetwork.xml"):
        convert(tmp_path / "out", data_dir=tmp_path)
    assert not (tmp_path / "out" / "mobilestylegan-ffhq-1024.safetensors").exists()


def test_bench_json_has_the_agreed_keys(default_weights):
    out = subprocess.run([sys.executable, "-m", "editor", "bench", "--json", "--repeats", "1", "--no-emulated"],
                         check=True, capture_output=True, text=True, timeout=600).stdout
    result = json.loads(out.strip().splitlines()[-1])
    for key in ("torch_ms", "openvino_ms", "ratio", "preview512_ms", "preview256_ms", "rss_mb"):
        assert key in result
    assert min(result["torch_ms"], result["preview512_ms"], result["preview256_ms"]) > 0
    assert result["ratio"] == pytest.approx(result["torch_ms"] / result["openvino_ms"], rel=0.01)
    assert set(result["cpu_flags"]) == {"amx", "avx512_bf16", "avx2"} and result["precision"] in ("fp32", "bf16")
    assert result["ms"][f"{result['precision']}_full"] == result["torch_ms"]
    assert set(result["preview_fidelity_db"]) == {"256", "512"}
