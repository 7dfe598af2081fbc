"""Is an answer supported by the passages it was given? A lexical check, run after generation:
the words an answer adds beyond the question — names, numbers, terms — must appear in the
passages. A small model asked about something the documents do not say still answers, and what
it invents ("The Broncos scored 24 points") shares the question's words but not the passages'.

Hand-written rather than a model call: it costs microseconds, needs no second model, and its
threshold's trade-off is measured (bench/answerability.py) rather than hoped for."""

from __future__ import annotations

import re

# Words that carry no claim of their own: what an answer may say without the passages saying it
# (a yes/no/maybe verdict is the question's choice, not a fact taken from the passages).
STOPWORDS = frozenset("""
a an and are as at be been being but by can could did do does for from had has have he her his
how i if in into is it its may might more most no not of on or our out over she so some such than
that the their them then there these they this those to under up was we were what when where which
while who whom whose why will with would yes you your also about after all any because before
maybe true false correct incorrect
between both during each few just many much only other own same should very answer answers context
document documents passage passages question according based given information mentioned provided
stated text states says said
""".split())


def claim_words(text: str) -> set[str]:
    """An answer's claim-bearing words: lower-cased words and numbers, stopwords dropped, a
    plural's trailing s taken off (so "points" matches "point")."""
    words = set()
    for w in re.findall(r"\w+", text.lower()):
        if w in STOPWORDS or (len(w) < 3 and not w.isdigit()):
            continue
        words.add(w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w)
    return words


def support(answer: str, passages: list[str], question: str = "") -> float | None:
    """The share of the words the answer adds beyond the question that the passages contain;
    None when it adds none (a yes, a restated question: nothing new is claimed)."""
    claimed = claim_words(answer) - claim_words(question)
    if not claimed:
        return None
    found = claim_words(" ".join(passages))
    return len(claimed & found) / len(claimed)


_REFUSAL = re.compile(r"\b(documents?|context|passages?|sources?)\b[^.]{0,40}\b(do|does)\s+not\s+"
                      r"(contain|mention|say|include|provide|state)", re.IGNORECASE)


def says_not_found(answer: str) -> bool:
    """Whether the model itself said the documents do not hold the answer, as the prompt asks it
    to ("The documents do not contain …", "The context does not mention …"): an abstention."""
    return bool(_REFUSAL.search(answer[:300]))
