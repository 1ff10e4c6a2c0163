"""Wire copies with the real models: the same story run by three outlets (re-headlined, trimmed) is
recorded as copies of one story, and its answer comes back once, naming every outlet."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import CNN_ARTICLE, SEED_ANSWER, SEED_QUESTION


def test_an_answer_found_in_wire_copies_is_one_answer_naming_every_outlet(corpus_dir: Path, make_pipeline):
    text = (corpus_dir / f"{CNN_ARTICLE}.txt").read_text(encoding="utf-8")
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    for name, site, kept in (("bogota-post", "The Bogotá Post", paragraphs[1:-4]),
                             ("yahoo", "Yahoo News", paragraphs[1:-2])):
        (corpus_dir / f"{name}.json").write_text(json.dumps({
            "title": f"Colombia becomes a major non-NATO ally ({site})", "site": site, "date": "2022-03-11",
            "text": "\n\n".join(kept)}), encoding="utf-8")
    pipe = make_pipeline(corpus_dir, read_mode="full")
    report = pipe.build_index()
    assert report.copies == {"bogota-post": CNN_ARTICLE, "yahoo": CNN_ARTICLE}  # the other seed story is none
    answer = pipe.ask(SEED_QUESTION)
    assert answer.text == SEED_ANSWER
    sites = {s.article: s.site for s in answer.sources}
    assert set(sites) == {CNN_ARTICLE, "bogota-post", "yahoo"}
    assert {sites["bogota-post"], sites["yahoo"]} == {"The Bogotá Post", "Yahoo News"}
    assert all(alt.text != SEED_ANSWER for alt in answer.alternatives)  # once, not three times
    for source in answer.sources:  # each source points at the answer's words in its own article
        row, body = pipe.article(source.article)
        assert body[source.start : source.end] == SEED_ANSWER
