"""The `qa` command from a shell."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import CNN_ARTICLE, SEED_QUESTION


def qa(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("QA_CORPUS_DIR", None)
    env.pop("QA_INDEX_DIR", None)
    return subprocess.run([sys.executable, "-m", "qa", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=600)


def test_index_then_ask_json(corpus_dir: Path, tmp_path: Path):
    out = qa("index", "--json", cwd=tmp_path)  # corpus/ and index/ in the working directory
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert len(report["added"]) == 2 and report["passages_embedded"] > 0
    assert (tmp_path / "index" / "qa.db").exists()
    out = qa("ask", SEED_QUESTION, "--json", "--top-k", "3", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert answer["text"] == "material and supply loans" and answer["article"] == CNN_ARTICLE
    assert len(answer["passages"]) == 3


def test_errors_are_one_line_and_non_zero(tmp_path: Path):
    out = qa("ask", "   ", cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.strip() == "qa: error: the question is empty"
    out = qa("index", "--corpus", str(tmp_path / "missing"), cwd=tmp_path)
    assert out.returncode == 2 and "corpus folder not found" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    out = qa("index", "--shards", "0", cwd=tmp_path)
    assert out.returncode == 2 and "--shards: must be a whole number of 1 or more, not '0'" in out.stderr


def test_a_bad_setting_in_the_environment_is_named(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("QA_IVF_NPROBE", "many")
    out = qa("index", cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.strip() == \
        "qa: error: bad value 'many' for setting ivf_nprobe (QA_IVF_NPROBE): expected int"
    monkeypatch.setenv("QA_IVF_NPROBE", "64")
    monkeypatch.setenv("QA_INDEX_VECTORS", "pq48")
    (tmp_path / "corpus").mkdir()
    out = qa("index", cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.strip() == \
        "qa: error: bad value 'pq48' for setting index_vectors (QA_INDEX_VECTORS): use one of '', float32, sq8"


def test_help_is_fast_and_lists_commands(tmp_path: Path):
    out = qa("--help", cwd=tmp_path)
    assert out.returncode == 0
    for command in ("index", "ask", "serve", "eval-reader", "train-reader"):
        assert command in out.stdout


def test_chat_follows_the_conversation_until_a_new_topic(corpus_dir: Path, tmp_path: Path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    lines = ["When will the Summit of the Americas be held?", "And where is it held?", "/new",
             "And where is it held?", "/quit"]
    out = subprocess.run([sys.executable, "-m", "qa", "chat"], cwd=tmp_path, input="\n".join(lines) + "\n",
                         capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr
    first, rest = out.stdout.split("(new topic)")
    assert "(understood as: where is the Summit of the Americas held?)" in first
    assert "Los Angeles" in first.split("understood as")[1]
    assert "understood as" not in rest  # after /new the same words are read on their own


def test_the_core_runs_without_ray_and_says_how_to_get_it(corpus_dir: Path, tmp_path: Path):
    code = (  # Ray made unimportable, as on a machine without the qa[cluster] extra
        "import sys; sys.modules['ray'] = None\n"
        "import qa.pipeline, qa.serving.web, qa.indexing.indexer\n"
        "from qa.serving.cli import main\n"
        f"sys.exit(main(['index', '--corpus', {str(corpus_dir)!r}, '--index', {str(tmp_path / 'i')!r}, "
        "'--ray', '127.0.0.1:6379']))\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2, run.stderr[-2000:]
    assert "needs Ray: pip install 'qa[cluster]'" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "i" / "qa.db").exists(), "nothing written"


def test_show_prints_an_indexed_article_with_its_metadata(corpus_dir: Path, tmp_path: Path):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
    from test_pages import PAGE, STORY

    (corpus_dir / "2022" / "03").mkdir(parents=True)
    (corpus_dir / "2022" / "03" / "valmora.html").write_text(PAGE, encoding="utf-8")
    assert qa("index", "--corpus", str(corpus_dir), "--index", str(tmp_path / "index"), cwd=tmp_path).returncode == 0
    out = qa("show", "2022/03/valmora", "--json", "--corpus", str(corpus_dir), "--index", str(tmp_path / "index"),
             cwd=tmp_path)
    shown = json.loads(out.stdout)
    assert (shown["author"], shown["date"], shown["site"]) == ("Ana Ribeiro, Tom Hale", "2022-03-14",
                                                               "The Harbour Gazette")
    assert all(paragraph in shown["text"] for paragraph in STORY)
