"""The words the local completion rules read: which endings leave a thought open.

Speech-to-text rarely punctuates, so `services.completion.local` judges an answer by
its last words; these sets and phrases are its lexicon, kept apart so the rules read as
rules. Each set is written as one string, so the lists stay readable.
"""

from __future__ import annotations

import re

__all__ = [
    "ACKNOWLEDGEMENTS",
    "ANSWER_HEDGES",
    "CLAUSE_OPENERS",
    "CLOSING_MARKS",
    "CLOSING_PHRASES",
    "COMMA_WELL",
    "CONJUNCTIONS",
    "COPULAS",
    "COPULAS_AND_AUX",
    "DETERMINERS",
    "DIRECT_YES_NO",
    "DISCOURSE_LEAD_INS",
    "ELLIPSIS_VERBS",
    "FILLER",
    "HEAD_SEEKING_ADVERBS",
    "HEDGE_PHRASES",
    "LINKERS",
    "MHM",
    "OPEN_CONTRACTIONS",
    "PREPOSITIONS",
    "PROJECTING_NOUNS",
    "PROJECTING_OPENERS",
    "PROJECTING_PAIRS",
    "SO_CLOSERS",
    "SUBJECTS",
    "WELL_FILLER_AFTER",
    "WH_OK_AFTER",
    "WH_WORDS",
    "WORD",
    "YES_NO_QUESTION_STARTS",
    "YES_NO_WORDS",
]


def _words(text: str) -> frozenset[str]:
    """A word set written as one string, so the lexicon stays readable."""
    return frozenset(text.split())


WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")  # letters/digits, inner apostrophes
CLOSING_MARKS = " \t\r\n\"')]}\u00bb\u201d"  # quotes/brackets that may follow the real ending
COMMA_WELL = re.compile(r"[,;]\s*well\W*$", re.IGNORECASE)  # "It was fine, well"
MHM = re.compile(r"\b(?:m+-?hm+|uh-? ?huh)\b")  # "mm-hmm", "uh-huh": spoken "yes"
FILLER = re.compile(r"^(?:u+[hm]+|e+r+m*|h*m+|a+h+)$")  # um, uh, umm, er, erm, hmm, mm, ah

# Coordinating/subordinating words that always promise more.
CONJUNCTIONS = _words(
    "and but or nor because cause cuz cos coz although whereas unless if whether plus"
)
# Articles, possessives and intensifiers that need a word after them.
DETERMINERS = _words("the a an my your our their its every very extremely")
# Prepositions that rarely end a thought. Phrasal particles ("gave up",
# "moved on", "stopped by", "came back") are deliberately left out.
PREPOSITIONS = _words(
    """to with of for from about into onto at as than without toward towards between among
    until till upon via per despite unlike within against during regarding including
    versus"""
)
# Contractions that cannot end a clause: "it's" and "I'm" always need more.
OPEN_CONTRACTIONS = _words(
    """i'm you're we're they're it's that's there's here's he's she's what's who's where's
    how's let's i've you've we've they've i'd you'd we'd they'd he'd she'd i'll you'll
    we'll they'll he'll she'll it'll that'll gonna wanna gotta hafta"""
)
SUBJECTS = _words("i we they he she")
# After these, a bare subject pronoun is the start of a new clause ("because I").
# Not "and"/"or": "my sister and I" is a whole noun phrase.
CLAUSE_OPENERS = (CONJUNCTIONS - {"and", "or", "nor", "plus"}) | _words(
    "so when while until since that then where before after once though"
)
# "I think so", "I hope so", "an hour or so": "so" closing a thought.
SO_CLOSERS = _words(
    """think thought hope hoped guess guessed believe believed suppose supposed expect
    imagine say said says told seems seemed appears or even not"""
)
# "I wanted to." can be a whole answer (verb-phrase ellipsis), but is ambiguous.
ELLIPSIS_VERBS = _words(
    """want wanted wants need needed needs have has had try tried trying going got used
    meant mean forgot plan planned hope hoped decided managed like love ought supposed
    able going"""
)
# Adverbs that need a verb or adjective after them when they follow a subject
# or copula: "I really", "it was always", "I didn't even".
HEAD_SEEKING_ADVERBS = _words(
    """really quite totally definitely actually probably always never usually also still
    even only sometimes often already almost barely hardly"""
)
COPULAS_AND_AUX = _words(
    """was is am are were be been would could should will can might must may shall
    didn't don't doesn't can't couldn't won't wouldn't isn't wasn't aren't weren't
    haven't hasn't hadn't shouldn't"""
)
# "and then", "but also", "so maybe": a linker straight after a conjunction.
LINKERS = _words("then also now maybe probably actually just really still even after before")
# Wh-words at the end project a clause, except after "I don't know"-type verbs.
WH_WORDS = _words("when where why how what who which whose")  # not "while": "for a while"
WH_OK_AFTER = _words(
    """know knows knew remember sure idea wonder wondering tell recall understand see
    matter ask asked care guess"""
)
# "The best part was", "my goal is": a copula after a projecting noun.
PROJECTING_NOUNS = _words(
    """thing part problem reason point truth idea plan goal question issue fact answer
    difference hope worry fear dream result lesson takeaway"""
)
COPULAS = _words("is was are were")
HEDGE_PHRASES = (
    ("you", "know", "what"),
    ("guess", "what"),
    ("you", "know"),
    ("i", "mean"),
    ("you", "see"),
    ("kind", "of"),
    ("sort", "of"),
    ("kinda",),
    ("sorta",),
    # Discourse openers: they announce what comes next.
    ("first", "of", "all"),
    ("for", "example"),
    ("for", "instance"),
    ("on", "the", "other", "hand"),
    ("in", "other", "words"),
)
# Hedges that are a whole answer to a yes/no question: "Yeah, kind of."
ANSWER_HEDGES = frozenset({("kind", "of"), ("sort", "of"), ("kinda",), ("sorta",)})
# Phrases that explicitly hand the turn back.
CLOSING_PHRASES = tuple(
    tuple(p.split())
    for p in (
        "that's it",
        "that is it",
        "that's all",
        "that is all",
        "that's about it",
        "that's pretty much it",
        "that's all i can think of",
        "that's all i've got",
        "that's all i have",
        "that's everything",
        "that's my answer",
        "i'm done",
        "i am done",
        "i'm finished",
        "nothing else",
        "nothing more",
        "end of story",
        "so yeah",
    )
)
YES_NO_QUESTION_STARTS = _words(
    """did do does are is was were have has had can could would will should shall may
    might am isn't aren't didn't don't doesn't won't wouldn't haven't hasn't anything
    any anyone anybody"""
)
DIRECT_YES_NO = _words(
    """yes yeah yep yup yea no nope nah sure definitely absolutely totally maybe probably
    mostly kinda sorta not mhm"""
)
YES_NO_WORDS = DIRECT_YES_NO | _words("um uh well so oh ok okay i mean guess")
ACKNOWLEDGEMENTS = _words("yeah yes yep yup yea ok okay sure right alright oh mhm")
# "well" after these is a filler; after anything else it is an adverb ("slept well").
WELL_FILLER_AFTER = _words("um uh er erm hmm oh yeah ok okay like mean")
DISCOURSE_LEAD_INS = _words("um uh er erm hmm well so yeah ok okay oh like and alright")
# Clauses that announce a main clause still to come: "If I had more time".
PROJECTING_OPENERS = _words("if although though unless")
PROJECTING_PAIRS = frozenset({("even", "if"), ("even", "though"), ("as", "long")})
