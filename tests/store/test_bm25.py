import math

import numpy as np
import pytest

from tunewise.store.bm25 import K1, B, BM25Index, analyse, encode_terms, query_term_ids

DOCS = ["The compressor of the heat pump hums quietly.",
        "Heat pumps need a defrost cycle; defrosting is normal in winter.",
        "Invoices are paid within thirty days.",
        "Compressor, compressor, compressor: the compressor warranty is ten years."]


def brute_force(query: str, docs: list[str]) -> list[float]:
    """Textbook BM25 (Lucene idf), term by term, to check the vectorised index against."""
    tokenized = [analyse(d) for d in docs]
    avg = sum(map(len, tokenized)) / len(docs)
    scores = []
    for terms in tokenized:
        score = 0.0
        for t in set(analyse(query)):
            df = sum(t in d for d in tokenized)
            tf = terms.count(t)
            if tf:
                idf = math.log(1 + (len(docs) - df + 0.5) / (df + 0.5))
                score += idf * tf * (K1 + 1) / (tf + K1 * (1 - B + B * len(terms) / avg))
        scores.append(score)
    return scores


def build(docs):
    encoded = [encode_terms(d) for d in docs]
    return BM25Index.build([e[0] for e in encoded], [e[1] for e in encoded],
                           np.array([e[2] for e in encoded]))


@pytest.mark.parametrize("query", ["compressor warranty", "heat pumps defrosting", "invoice",
                                   "quiet winter compressors", "nothing matches here xyz"])
def test_index_matches_textbook_bm25(query):
    got = build(DOCS).scores(query_term_ids(query))
    assert got == pytest.approx(brute_force(query, DOCS), rel=1e-5, abs=1e-6)


def test_analysis_stems_lowercases_and_drops_stopwords():
    assert analyse("Defrosting DEFROSTS defrost") == analyse("defrost") * 3
    assert analyse("the of and") == []
    assert len(query_term_ids("the of and")) == 0
    assert analyse("Kühlschrank café") == analyse("kühlschrank CAFÉ")


def test_empty_index():
    index = build([])
    assert index.scores(query_term_ids("anything")).shape == (0,)


def test_added_and_removed_rows_score_as_a_fresh_build():
    import random

    rng = random.Random(0)
    words = "heat pump compressor defrost warranty invoice winter quiet cycle fan coil valve".split()
    docs = [" ".join(rng.choice(words) for _ in range(rng.randint(3, 25))) for _ in range(600)]
    enc = [encode_terms(d) for d in docs]
    index = build(docs[:300])  # one segment, then uploads of a few rows, then a big one
    for start in range(300, 340, 4):
        batch = enc[start:start + 4]
        index.add([e[0] for e in batch], [e[1] for e in batch], [e[2] for e in batch])
    assert len(index.segments) > 1  # small uploads stay in their own segments
    removed = set(rng.sample(range(340), 60))
    index.remove(sorted(removed))
    index.remove([min(removed)] * 2)  # removing again changes nothing
    rest = enc[340:]
    index.add([e[0] for e in rest], [e[1] for e in rest], [e[2] for e in rest])
    alive = [i for i in range(600) if i not in removed]
    fresh = build([docs[i] for i in alive])
    for query in ("compressor warranty", "quiet winter fan", "valve", "nothing here"):
        got, want = index.scores(query_term_ids(query)), fresh.scores(query_term_ids(query))
        assert got[alive] == pytest.approx(want, rel=1e-5, abs=1e-6)
        assert not got[sorted(removed)].any()
    index.compact()
    assert len(index.segments) == 1
    got = index.scores(query_term_ids("compressor warranty"))
    assert got[alive] == pytest.approx(fresh.scores(query_term_ids("compressor warranty")), rel=1e-5)
