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
