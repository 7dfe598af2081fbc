import json
from dataclasses import replace

import pytest

from tests.conftest import QUESTIONS
from tunewise.retrieval import RetrievalError, Retriever
from tunewise.retrieval.fusion import convex, rrf
from tunewise.store import EmbedderMismatch

QS = [json.loads(line) for line in QUESTIONS.read_text().splitlines()]


def found(hits, sources):
    return any(h.chunk.source.split("#")[0].endswith(tuple(sources)) for h in hits)


@pytest.mark.parametrize("mode, at_least", [("hybrid", 0.9), ("dense", 0.8), ("keyword", 0.8)])
def test_sample_questions_find_their_source(sample_workspace, mode, at_least):
    """Recall@5 of the gold document over the 32 sample questions."""
    hits = [found(sample_workspace.search(q["question"], k=5, mode=mode), q["sources"]) for q in QS]
    assert sum(hits) / len(hits) >= at_least, [q["id"] for q, h in zip(QS, hits) if not h]


def test_hits_carry_citations(sample_workspace):
    hits = sample_workspace.search("What are the dimensions of the HX200 outdoor unit?", k=3)
    top = hits[0]
    # the page that holds the dimensions (a chunk never starts on an earlier page and runs on)
    assert top.chunk.source.endswith("hx-series-datasheet.pdf") and top.chunk.page == 3
    assert top.retriever == "hybrid" and 0 < top.similarity <= 1
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert "1,100 x 950" in top.chunk.text


def test_min_similarity_can_return_nothing(sample_workspace):
    off_topic = "Who won the football world cup in 2018?"
    assert sample_workspace.search(off_topic, k=5) != []
    assert sample_workspace.search(off_topic, k=5, min_similarity=0.3) == []
    assert sample_workspace.search(off_topic, k=5, mode="dense", min_similarity=0.3) == []
    kept = sample_workspace.search("What is the minimum password length?", min_similarity=0.3)
    assert kept and all(h.similarity >= 0.3 for h in kept)


def test_keyword_mode_compares_bm25_scores_with_min_bm25_never_with_the_cosine_cut_off(
        sample_workspace):
    """A cosine cut-off of 0.3 was once compared with BM25 scores (which run to 10 and more)."""
    query = "warranty heat pump"
    scores = [h.score for h in sample_workspace.search(query, k=5, mode="keyword")]
    assert scores and max(scores) > 1.0
    assert sample_workspace.search(query, k=5, mode="keyword", min_similarity=1e9) != []
    ws = sample_workspace
    strict = Retriever(ws.store, None, replace(ws.settings.retrieval, mode="keyword",
                                               min_bm25=max(scores) + 1))
    assert strict.search(query, k=5) == []
    middle = sorted(scores)[len(scores) // 2]
    kept = Retriever(ws.store, None, replace(ws.settings.retrieval, mode="keyword",
                                             min_bm25=middle)).search(query, k=5)
    assert kept and all(h.score >= middle for h in kept)
    assert min(scores) < middle and len(kept) < len(scores)  # the lower half was cut


def test_source_filter(sample_workspace):
    hits = sample_workspace.search("warranty", k=10, source="support/*")
    assert hits and all("/support/" in h.chunk.source for h in hits)


def test_keyword_mode_needs_no_model(sample_workspace):
    from tunewise.retrieval import Retriever

    retriever = Retriever(sample_workspace.store, None, sample_workspace.settings.retrieval)
    hits = retriever.search("E12 water flow", mode="keyword", k=2)
    assert hits[0].chunk.source.endswith("faq.md") and hits[0].similarity is None
    with pytest.raises(RetrievalError, match="embedder"):
        retriever.search("E12", mode="dense")


def test_unknown_mode_lists_valid_ones(sample_workspace):
    with pytest.raises(RetrievalError, match="dense, keyword, hybrid"):
        sample_workspace.search("x", mode="fuzzy")


def test_other_embedder_is_refused(sample_workspace):
    from tunewise.retrieval import Retriever

    class Other:
        name, dimension = "other-model", 384

    with pytest.raises(EmbedderMismatch, match="all-MiniLM-L6-v2"):
        Retriever(sample_workspace.store, Other(), sample_workspace.settings.retrieval).search("x")


def test_rrf_rewards_agreement():
    scores = rrf([[1, 2, 3], [3, 1, 4]])
    assert max(scores, key=scores.get) == 1 and scores[3] > scores[2]


def test_convex_normalises_each_retriever():
    fused = convex({1: 0.9, 2: 0.5, 3: 0.1}, {3: 12.0, 2: 6.0}, alpha=0.5)
    assert fused[1] == pytest.approx(0.5)  # best cosine, no keyword match
    assert fused[3] == pytest.approx(0.5)  # worst cosine, best BM25
    assert fused[2] == pytest.approx(0.5 * 0.5 + 0.5 * 0.5)
    assert convex({}, {1: 3.0}, 0.5) == {}


def test_snippet_starts_at_the_matching_sentence(sample_workspace):
    hit = sample_workspace.search("What does error code E12 mean?", k=1)[0]
    assert hit.chunk.source.endswith("faq.md")
    assert hit.snippet(120).startswith("# Customer FAQ")  # no query: the chunk's start
    snippet = hit.snippet(120, query="What does error code E12 mean?")
    assert snippet.startswith("…") and "E12" in snippet and len(snippet) <= 122


def paragraph_pdf(path, pages: list[list[str]]):
    """A PDF at `path` of one page a list, its paragraphs wrapped; returns `path`."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    for lines in pages:
        pdf.add_page()
        pdf.multi_cell(0, 6, "\n\n".join(lines))
    pdf.output(str(path))
    return path


def test_one_hit_per_page_shows_more_pages(tmp_path, settings, embedder):
    """A long page about a topic fills every slot; with [retrieval] one_per_page (the default) the
    k hits come from k different pages."""
    from dataclasses import replace

    from tunewise.retrieval import Retriever
    from tunewise.workspace import Workspace

    path = paragraph_pdf(tmp_path / "manual.pdf", [
        [f"Heat pump defrost cycles, part {n}: the defrost cycle of the heat pump reverses "
         f"the refrigerant flow for {n + 2} minutes to melt ice." for n in range(12)],
        ["The heat pump defrost cycle is also logged in the service app, which shows "
         "when each defrost of the outdoor unit started and how long it ran."],
        ["Warranty claims for a heat pump whose defrost cycle fails are handled by the "
         "regional office within ten working days of the report."]])
    with Workspace(settings.replace("chunking", size=40, overlap=0), embedder=embedder) as ws:
        ws.ingest([path])
        query = "heat pump defrost cycle"
        every = Retriever(ws.store, embedder, replace(ws.settings.retrieval, one_per_page=False))
        plain = every.search(query, k=3, mode="dense")
        assert {h.chunk.page for h in plain} == {1}
        hits = ws.search(query, k=3, mode="dense")
        assert len(hits) == 3 and len({h.chunk.page for h in hits}) == 3
        assert hits[0].chunk.id == plain[0].chunk.id  # the best hit stays first


def test_page_evidence_ranks_a_page_by_all_its_matching_chunks(tmp_path, settings, embedder):
    """With [retrieval] page_evidence, a page whose chunks all match outranks a page with
    one slightly better chunk; each page is still shown by its best chunk, once."""
    from dataclasses import replace

    from tunewise.retrieval import Retriever
    from tunewise.workspace import Workspace

    path = paragraph_pdf(tmp_path / "filing.pdf", [
        ["Capital expenditures were 1,577 million dollars in 2018."],
        ["Purchases of property, plant and equipment: 1,577 million dollars.",
         "Capital spending grew in every segment.", "Capex guidance for next year."]])
    with Workspace(settings.replace("chunking", size=16, overlap=0), embedder=embedder) as ws:
        ws.ingest([path])
        rows = {c.page: [] for c in ws.store.iter_chunks()}
        for row, chunk in ws.store.chunks(list(range(1, 50))).items():
            rows[chunk.page].append(row)
        assert len(rows[1]) == 1 and len(rows[2]) >= 2
        # the first page's one chunk scores best; the second page's two chunks come next
        scored = [(rows[1][0], 0.90, None)] + [(r, 0.85 - 0.01 * i, None)
                                              for i, r in enumerate(rows[2][:2])]
        plain = Retriever(ws.store, embedder, ws.settings.retrieval)
        assert [h.chunk.page for h in plain._one_per_page(scored, 2, "hybrid")] == [1, 2]
        pages = Retriever(ws.store, embedder, replace(ws.settings.retrieval, page_evidence=0.5))
        ranked = pages._pages(scored, 2, "hybrid", 0.5)
        assert [h.chunk.page for h in ranked] == [2, 1] and ranked[0].score == 0.85
