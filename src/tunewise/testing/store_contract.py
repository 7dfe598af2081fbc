"""The contract every Store backend passes, shipped so a third backend can run it too: subclass
StoreContract in a pytest file and give it a `store` fixture that yields a fresh, empty store.

    from tunewise.testing import StoreContract

    class TestMyStore(StoreContract):
        @pytest.fixture
        def store(self, tmp_path):
            s = MyStore(tmp_path / "db")
            yield s
            s.close()

Needs pytest (the `dev` extra). tests/store/test_sqlite.py and test_postgres.py are the two
built-in examples."""

from __future__ import annotations

import numpy as np
import pytest

from tunewise.documents.hashing import chunk_id, digest, document_id
from tunewise.objects import Chunk, Document, parse_where, source_matches
from tunewise.store import EmbedderMismatch, StoredDocument, StoreError, WriteBatch

DIM = 8


def vec(*values: float) -> np.ndarray:
    v = np.zeros(DIM, dtype=np.float32)
    v[: len(values)] = values
    return v / np.linalg.norm(v)


def stored(path: str, texts: list[str], vectors: list[np.ndarray], key: str = "",
           title: str = "", metadata: dict | None = None) -> StoredDocument:
    doc = Document(path=path, text="\n\n".join(texts), title=title or path, key=key,
                   metadata=metadata or {})
    doc_id, doc_hash = document_id(doc.source), digest(doc.text)
    chunks, at = [], 0
    for i, t in enumerate(texts):
        chunks.append(Chunk(chunk_id(doc_id, doc_hash, i, t), doc_id, i, t, at, at + len(t), doc.source,
                            doc.title, page=i + 1))
        at += len(t) + 2
    return StoredDocument(doc_id, doc, doc_hash, chunks, np.stack(vectors))


CAT = stored("/docs/cats.md", ["Cats purr when content.", "A kitten drinks milk."],
             [vec(1, 0), vec(0.9, 0.1)])
DOG = stored("/docs/dogs.txt", ["Dogs bark at the postman."], [vec(0, 1)])
FISH = stored("/docs/sea/fish.md", ["Salmon swim upstream to spawn."], [vec(0.5, 0.5)])


class StoreContract:
    @pytest.fixture
    def store(self):
        raise NotImplementedError

    @pytest.fixture
    def filled(self, store):
        store.check_embedder("test-embedder", DIM)
        store.write(WriteBatch(documents=[CAT, DOG, FISH],
                               files=[("/docs/cats.md", "h1"), ("/docs/dogs.txt", "h2")]))
        return store

    def test_empty_store(self, store):
        assert store.embedder() is None
        assert store.dense(vec(1), 5) == [] and store.keyword("cats", 5) == []
        assert store.stats()["chunks"] == 0

    def test_embedder_recorded_and_mismatch_refused(self, store):
        store.check_embedder("model-a", DIM)
        store.check_embedder("model-a", DIM)  # the same embedder again is fine
        assert store.embedder() == ("model-a", DIM)
        with pytest.raises(EmbedderMismatch, match="model-a"):
            store.check_embedder("model-b", DIM)
        with pytest.raises(EmbedderMismatch):
            store.check_embedder("model-a", DIM * 2)

    def test_dense_ranks_by_cosine(self, filled):
        hits = filled.dense(vec(1, 0), 3)
        chunks = filled.chunks([r for r, _ in hits])
        assert [chunks[r].text for r, _ in hits] == [
            "Cats purr when content.", "A kitten drinks milk.", "Salmon swim upstream to spawn."]
        assert hits[0][1] == pytest.approx(1.0, abs=1e-5)
        assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)

    def test_keyword_uses_bm25_with_stemming(self, filled):
        hits = filled.keyword("barking dogs", 5)
        assert len(hits) == 1
        assert filled.chunks([hits[0][0]])[hits[0][0]].text == "Dogs bark at the postman."
        assert filled.keyword("the of and", 5) == []  # stopwords only: nothing to rank by
        assert filled.keyword('quotes " and (parens) AND OR NOT *', 5) == []  # no syntax errors

    def test_source_filter(self, filled):
        rows = [r for r, _ in filled.dense(vec(1, 0), 10, source="sea/*")]
        assert [filled.chunks(rows)[r].source for r in rows] == ["/docs/sea/fish.md"]
        assert filled.keyword("kitten", 5, source="dogs") == []
        assert len(filled.keyword("kitten", 5, source="cats")) == 1

    def test_chunk_fields_round_trip(self, filled):
        row = filled.dense(vec(0.9, 0.1), 1)[0][0]
        chunk = filled.chunks([row])[row]
        assert chunk == CAT.chunks[1]

    def test_iter_chunks_in_document_order(self, filled):
        assert list(filled.iter_chunks()) == [*CAT.chunks, *DOG.chunks, *FISH.chunks]
        assert list(filled.iter_chunks(source="sea/*")) == FISH.chunks
        assert list(filled.iter_chunks(source="nothing-matches")) == []

    def test_similarities(self, filled):
        rows = [r for r, _ in filled.dense(vec(0, 1), 3)]
        sims = filled.similarities(vec(0, 1), rows)
        assert sims[0] == pytest.approx(1.0, abs=1e-5)
        assert sims == sorted(sims, reverse=True)

    def test_rewrite_replaces_old_chunks(self, filled):
        new_cat = stored("/docs/cats.md", ["Cats sleep all day."], [vec(1, 0)])
        assert new_cat.id == CAT.id
        filled.write(WriteBatch(documents=[new_cat]))
        assert filled.stats()["chunks"] == 3
        assert filled.keyword("kitten", 5) == []
        assert len(filled.keyword("sleep", 5)) == 1
        assert filled.document_hashes("/docs/cats.md") == {CAT.id: new_cat.content_hash}

    def test_file_records_and_remove(self, filled):
        assert filled.files() == [("/docs/cats.md", 1, 2), ("/docs/dogs.txt", 1, 1),
                                  ("/docs/sea/fish.md", 1, 1)]
        assert filled.file_hash("/docs/cats.md") == "h1"
        assert filled.file_hash("/docs/sea/fish.md") is None  # never marked complete
        assert filled.remove_path("/docs/cats.md") == 1
        assert filled.file_hash("/docs/cats.md") is None
        assert filled.keyword("kitten", 5) == [] and filled.stats()["chunks"] == 2
        assert filled.remove_path("/docs/sea") == 1  # a folder removes what is under it
        assert filled.paths() == ["/docs/dogs.txt"] and filled.files() == [("/docs/dogs.txt", 1, 1)]
        assert filled.remove_path("/docs/nothing") == 0
        assert filled.remove_path("/doc") == 0  # a prefix of a name is not a folder

    def test_delete_ids_in_a_batch(self, filled):
        filled.write(WriteBatch(delete_ids=[DOG.id]))
        assert filled.document_hashes("/docs/dogs.txt") == {}
        assert filled.keyword("postman", 5) == []

    def test_jsonl_records_share_a_path(self, store):
        store.check_embedder("test-embedder", DIM)
        a = stored("/kb.jsonl", ["Alpha record."], [vec(1)], key="a")
        b = stored("/kb.jsonl", ["Beta record."], [vec(0, 1)], key="b")
        store.write(WriteBatch(documents=[a, b]))
        assert set(store.document_hashes("/kb.jsonl")) == {a.id, b.id}
        row = store.keyword("beta", 1)[0][0]
        assert store.chunks([row])[row].source == "/kb.jsonl#b"

    def test_failed_write_leaves_nothing(self, filled):
        """A batch that fails half-way (its last document reuses a chunk id the store holds, a
        constraint only the database can check) is rolled back whole, as a StoreError."""
        good = stored("/docs/birds.md", ["Birds sing at dawn."], [vec(0, 0, 1)])
        clash = StoredDocument("x", Document(path="/x.md", text="x"), "h", DOG.chunks[:1],
                               np.stack([vec(0, 1)]))
        before = sorted((c.id, c.source) for c in filled.iter_chunks())
        with pytest.raises(StoreError):
            filled.write(WriteBatch(documents=[good, clash], delete_ids=[CAT.id],
                                    files=[("/docs/birds.md", "h3")]))
        assert sorted((c.id, c.source) for c in filled.iter_chunks()) == before
        assert filled.stats()["documents"] == 3 and filled.file_hash("/docs/birds.md") is None
        assert len(filled.keyword("kitten", 5)) == 1 and filled.keyword("birds", 5) == []

    def test_context_is_kept_and_searched_with_the_text(self, store):
        """A chunk's context (title › heading) is stored, read back, exported, and found by
        keyword search together with its text, though the text alone is what is cited."""
        store.check_embedder("test-embedder", DIM)
        base = stored("/r/annual.pdf", ["Purchases of property, plant and equipment (1,577)"],
                      [vec(1)])
        chunk = base.chunks[0].__class__(**{**vars(base.chunks[0]),
                                            "context": "Annual Report › CASH FLOWS STATEMENT"})
        doc = StoredDocument(base.id, base.document, base.content_hash, [chunk], base.vectors)
        store.write(WriteBatch(documents=[doc, DOG]))
        hits = store.keyword("cash flows statement", 5)
        found = store.chunks([r for r, _ in hits])
        assert [c.text for c in found.values()] == [chunk.text]  # the text is what is cited
        assert list(found.values())[0].context == chunk.context
        assert [c for c in store.iter_chunks(source="*annual*")] == [chunk]
        exported = {d.id: d for d in store.export()}
        assert exported[doc.id].chunks[0].context == chunk.context

    def test_metadata_conditions(self, store):
        """--where conditions in SQL mean what objects.Condition.matches says, in dense, keyword
        and listing alike: numbers compare as numbers, = compares as text, objects and arrays and
        missing keys match nothing."""
        store.check_embedder("test-embedder", DIM)
        metadata = [{"company": "NIKE", "year": 2022, "audited": True},
                    {"company": "NIKE", "year": 2019},
                    {"company": "AMD", "year": "2022"},
                    {"company": "AMD", "year": 2023.5, "tags": ["a"]},
                    {}]
        docs = [stored(f"/m/{i}.md", [f"Report {i} on revenue."], [vec(1, i)], metadata=m)
                for i, m in enumerate(metadata)]
        store.write(WriteBatch(documents=docs))
        cases = [["company=NIKE"], ["company!=NIKE"], ["year>=2022"], ["year<2022"], ["year=2022"],
                 ["audited=true"], ["tags=a"], ["company=NIKE", "year>=2020"], ["missing=1"],
                 ["year>2022.9"], ["year!=2019"], ["year<=2023.5", "company=AMD"]]
        for case in cases:
            where = parse_where(case)
            expected = {d.document.source for d in docs
                        if all(c.matches(d.document.metadata) for c in where)}
            assert {c.source for c in store.iter_chunks(where=where)} == expected, case
            dense = store.dense(vec(1), 10, where=where)
            assert {c.source for c in store.chunks([r for r, _ in dense]).values()} == expected, case
            keyword = store.keyword("revenue", 10, where=where)
            assert {c.source for c in store.chunks([r for r, _ in keyword]).values()} == expected, case
        assert {c.source for c in store.iter_chunks(where=parse_where(["year>=2022"]))} == {
            "/m/0.md", "/m/3.md"}  # the string "2022" is no number
        narrowed = store.iter_chunks(source="*/1.md", where=parse_where(["company=NIKE"]))
        assert [c.source for c in narrowed] == ["/m/1.md"]

    def test_metadata_values_are_the_distinct_scalars_of_keys_with_few_values(self, store):
        store.check_embedder("test-embedder", DIM)
        metadata = [{"company": "NIKE", "year": 2022, "id": "a", "tags": ["x"]},
                    {"company": "NIKE", "year": 2019, "id": "b"},
                    {"company": "AMD", "year": 2022, "id": "c", "ratio": 0.5}, {}]
        store.write(WriteBatch(documents=[stored(f"/v/{i}.md", [f"Text {i}."], [vec(1, i)],
                                                 metadata=m) for i, m in enumerate(metadata)]))
        values = store.metadata_values(most=2)
        assert values == {"company": ["AMD", "NIKE"], "year": [2019, 2022], "ratio": [0.5]}
        assert store.metadata_values()["id"] == ["a", "b", "c"]

    def test_set_metadata_replaces_it_and_leaves_chunks_and_vectors(self, store):
        store.check_embedder("test-embedder", DIM)
        docs = [stored(f"/s/{i}.md", [f"Filing {i}."], [vec(1, i)], metadata={"year": 2019 + i})
                for i in range(2)]
        store.write(WriteBatch(documents=docs))
        assert store.set_metadata({docs[0].id: {"company": "3M", "year": 2018}}) == 1
        assert {c.source for c in store.iter_chunks(where=parse_where(["company=3M"]))} == {"/s/0.md"}
        assert {c.source for c in store.iter_chunks(where=parse_where(["year=2020"]))} == {"/s/1.md"}
        exported = {d.document.source: d for d in store.export()}
        assert exported["/s/0.md"].document.metadata == {"company": "3M", "year": 2018}
        assert np.allclose(exported["/s/0.md"].vectors, docs[0].vectors)

    def test_source_names_and_globs(self, store):
        """Sources are `path` or `path#key`; globs by extension, folder or record key match them
        in SQL exactly as objects.source_matches does in Python."""
        store.check_embedder("test-embedder", DIM)
        kb = [stored("/kb.jsonl", [f"Record {k}."], [vec(1, i)], key=k) for i, k in enumerate("ab")]
        store.write(WriteBatch(documents=[CAT, DOG, FISH, *kb]))
        sources = {c.source for c in store.iter_chunks()}
        assert sources == {"/docs/cats.md", "/docs/dogs.txt", "/docs/sea/fish.md", "/kb.jsonl#a",
                           "/kb.jsonl#b"}
        for pattern in ("*.md", "*.txt", "sea/*", "/docs/*", "docs", "*#a", "kb.jsonl#*",
                        "*.jsonl*", "*.jsonl", "nothing"):
            expected = {s for s in sources if source_matches(s, pattern)}
            assert {c.source for c in store.iter_chunks(source=pattern)} == expected, pattern
            dense = store.dense(vec(1), 10, source=pattern)
            assert {c.source for c in store.chunks([r for r, _ in dense]).values()} == expected
        assert {c.source for c in store.iter_chunks(source="*.md")} == {
            "/docs/cats.md", "/docs/sea/fish.md"}  # once matched nothing: a '#' was appended

    def test_export_gives_back_what_was_written(self, filled):
        exported = {d.id: d for d in filled.export()}
        assert set(exported) == {CAT.id, DOG.id, FISH.id}
        cat = exported[CAT.id]
        assert cat.content_hash == CAT.content_hash and cat.document.path == CAT.document.path
        assert [c.text for c in cat.chunks] == [c.text for c in CAT.chunks]
        assert [c.page for c in cat.chunks] == [1, 2]
        assert np.allclose(cat.vectors, CAT.vectors)
        assert sorted(filled.file_hashes()) == [("/docs/cats.md", "h1"), ("/docs/dogs.txt", "h2")]
