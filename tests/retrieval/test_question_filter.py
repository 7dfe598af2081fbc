"""Filters read from the question: the metadata values a store holds, named in a question
("3M", "FY2018", "Best Buy", "10-K"), narrow the search; nothing invented, nothing silently
widened, and off when the settings say so."""

import pytest

from tunewise.config import Settings
from tunewise.objects import parse_where
from tunewise.retrieval.question_filter import read_filter
from tunewise.workspace import Workspace

VALUES = {"company": ["3M", "Best Buy", "PepsiCo", "AMD"], "year": [2018, 2019, 2022],
          "doc_type": ["10k", "10q", "earnings"]}  # AMCOR not among the companies


@pytest.mark.parametrize("question, expected", [
    ("What is the FY2018 capital expenditure amount (in USD millions) for 3M?",
     ["company=3M", "year=2018"]),
    ("Did Best Buy's fiscal 2019 10-K report a rise in revenue?",
     ["company=Best Buy", "doc_type=10k", "year=2019"]),
    ("How did AMD's gross margin move in FY22?", ["company=AMD", "year=2022"]),
    ("As of FY2022Q1, did 3M raise its guidance?", ["company=3M", "year=2022"]),
    ("Compare PepsiCo's FY2018 and FY2019 operating income", ["company=PepsiCo", "year=2019"]),
    ("Compare AMD and PepsiCo on earnings per share", []),  # two companies; a common word
    ("What did the Earnings release of AMCOR say?", ["doc_type=earnings"]),
    ("What was the revenue in 2017?", []),  # a year no document has
    ("How do bestbuying habits change?", []),  # not the words of a value
])
def test_the_values_a_question_names_become_conditions(question, expected):
    assert [str(c) for c in read_filter(question, VALUES).conditions] == expected


def test_a_key_the_caller_already_filters_on_is_left_alone():
    found = read_filter("3M revenue in FY2018", VALUES, given_keys={"year"})
    assert [str(c) for c in found.conditions] == ["company=3M"]


@pytest.fixture
def filings(tmp_path, embedder):
    folder = tmp_path / "filings"
    folder.mkdir()
    texts = {("3M", 2018): "Capital expenditures were 1,577 million dollars.",
             ("3M", 2019): "Capital expenditures were 1,699 million dollars.",
             ("AMD", 2018): "Capital expenditures were 163 million dollars."}
    ws = Workspace(Settings().replace("store", url=f"sqlite:{tmp_path / 's.db'}"), embedder=embedder)
    for (company, year), text in texts.items():
        path = folder / f"{company}-{year}.txt"
        path.write_text(f"Annual report. {text}")
        ws.ingest([path], metadata={"company": company, "year": year})
    yield ws
    ws.close()


def test_search_keeps_to_the_company_and_year_the_question_names(filings):
    hits, named = filings.search_explained("What were 3M's capital expenditures in FY2018?", k=3)
    assert named.note == "filtered to company=3M, year=2018"
    assert [h.chunk.source.rsplit("/", 1)[1] for h in hits] == ["3M-2018.txt"]


def test_a_named_combination_no_document_has_is_dropped_and_said(filings):
    hits, named = filings.search_explained("What were AMD's capital expenditures in FY2019?", k=3)
    assert [str(c) for c in named.conditions] == ["company=AMD"]
    assert "nothing found with year=2019" in named.note
    assert [h.chunk.source.rsplit("/", 1)[1] for h in hits] == ["AMD-2018.txt"]


def test_question_filter_off_searches_everything(filings, tmp_path):
    ws = Workspace(filings.settings.replace("retrieval", question_filter="off"),
                   store=filings.store, embedder=filings.embedder)
    hits, named = ws.search_explained("What were 3M's capital expenditures in FY2018?", k=3)
    assert not named and len(hits) == 3
    explicit = ws.search("capital expenditures", k=3, where=parse_where(["company=AMD"]))
    assert [h.chunk.source.rsplit("/", 1)[1] for h in explicit] == ["AMD-2018.txt"]


def test_boost_ranks_the_named_documents_first_and_keeps_the_rest(filings):
    ws = Workspace(filings.settings.replace("retrieval", question_filter="boost"),
                   store=filings.store, embedder=filings.embedder)
    hits, named = ws.search_explained("What were 3M's capital expenditures in FY2018?", k=3)
    assert named.note == "ranked first: documents with company=3M, year=2018"
    names = [h.chunk.source.rsplit("/", 1)[1] for h in hits]
    assert names[0] == "3M-2018.txt" and sorted(names) == ["3M-2018.txt", "3M-2019.txt",
                                                           "AMD-2018.txt"]


def test_a_company_is_named_by_its_aliases_and_a_files_creation_date_never_filters():
    values = {"company": ["Johnson & Johnson", "Adobe Systems"],
              "company_aliases": ["Johnson & Johnson|JOHNSON & JOHNSON|JNJ", "Adobe Systems|ADOBE"],
              "created": ["2018-03-01"], "year": [2022],
              "metadata_source": ["company: first page; year: file name"]}
    by_ticker = read_filter("What was JNJ's revenue growth in 2022?", values)
    assert [str(c) for c in by_ticker.conditions] == ["company=Johnson & Johnson", "year=2022"]
    assert by_ticker.note == "filtered to company=Johnson & Johnson (named as 'JNJ'), year=2022"
    assert [str(c) for c in read_filter("Adobe capex in 2022", values).conditions] == [
        "company=Adobe Systems", "year=2022"]
    own = read_filter("What did J&J report?", values, aliases={"J&J": "Johnson & Johnson"})
    assert [str(c) for c in own.conditions] == ["company=Johnson & Johnson"]
    assert not read_filter("What happened on 2018-03-01 at the plant?", values)
