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
    "AUXILIARIES",
    "CLAUSE_START_BEFORE",
    "CLOSING_MARKS",
    "CLOSING_PHRASES",
    "COMMA_WELL",
    "COMPARATIVES",
    "COMPARATIVE_OPEN_AFTER",
    "COMPLEMENT_VERBS",
    "CONJUNCTIONS",
    "COPULAS",
    "COPULAS_AND_AUX",
    "DEMONSTRATIVES",
    "DETERMINERS",
    "DIRECT_YES_NO",
    "DISCOURSE_LEAD_INS",
    "ELLIPSIS_VERBS",
    "FILLER",
    "HEAD_SEEKING_ADVERBS",
    "HEDGE_PHRASES",
    "INFINITIVE_OPEN_VERBS",
    "INVERTING_AUX",
    "KNOW_SAY_VERBS",
    "LATE_SUBJECTS",
    "LATE_SUBJECT_AFTER",
    "LEAD_ADVERBS",
    "LINKERS",
    "LINKER_AFTER",
    "LINKING_VERBS",
    "MHM",
    "NUMBER_WORDS",
    "NUMERIC_QUESTION_WORDS",
    "OBJECT_DEMONSTRATIVE_AFTER",
    "OPEN_CONTRACTIONS",
    "OPEN_PHRASALS",
    "POINT_NOUNS",
    "PREPOSITIONS",
    "PROJECTING_OPENERS",
    "PROJECTING_PAIRS",
    "PRONOUNS",
    "QUANTITY_OF",
    "SO_CLOSERS",
    "STRANDING_HEADS",
    "SUBJECTS",
    "SUBJECT_CONTRACTIONS",
    "SUPERLATIVES",
    "TAGS",
    "TIME_WHILE_BEFORE",
    "VERBLESS_OPENERS",
    "WELL_FILLER_AFTER",
    "WHOLE_ANSWERS",
    "WH_OK_AFTER",
    "WH_WORDS",
    "WINDING_DOWN_TAGS",
    "WORD",
    "YES_NO_QUESTION_STARTS",
    "YES_NO_TAGS",
    "YES_NO_WORDS",
]


def _words(text: str) -> frozenset[str]:
    """A word set written as one string, so the lexicon stays readable."""
    return frozenset(text.split())


WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")  # letters/digits, inner apostrophes
CLOSING_MARKS = " \t\r\n\"')]}\u00bb\u201d"  # quotes/brackets that may follow the real ending
COMMA_WELL = re.compile(r"[,;]\s*well\W*$", re.IGNORECASE)  # "It was fine, well"
MHM = re.compile(r"\b(?:m+-?hm+|uh-? ?huh)\b")  # "mm-hmm", "uh-huh": spoken "yes"
FILLER = re.compile(r"^(?:u+[hm]+|e+r+m*|e+h+|h*m+|a+h+)$")  # um, uh, umm, er, erm, eh, hmm, ah

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
# "I think so", "I hope so", "an hour or so": "so" closing a thought.
SO_CLOSERS = _words(
    """think thought hope hoped guess guessed believe believed suppose supposed expect
    imagine say said says told seems seemed appears or even not so"""
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
    even only sometimes often already almost barely hardly pretty super"""
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
COPULAS = _words("is was are were am")
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
    # Floor-holders: the speaker is still looking for the answer.
    ("let", "me", "think"),
    ("let", "me", "see"),
    ("let's", "see"),
    ("i'd", "say"),
    ("i", "would", "say"),
    ("i", "have", "to", "say"),
    ("i'd", "have", "to", "say"),
    ("i", "must", "say"),
    ("what's", "the", "word"),
    ("how", "do", "i", "put", "it"),
    ("how", "do", "i", "say", "this"),
    ("give", "me", "a", "second"),
    ("give", "me", "a", "sec"),
    ("hold", "on"),
    ("hang", "on"),
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

# --- endings that open a clause (services.completion.endings) -----------------

PRONOUNS = _words("i we they he she you it that this there here who what")
# "So did I", "neither can we": a subject after these is inverted, not a new clause.
INVERTING_AUX = COPULAS_AND_AUX | _words("do does did have has had am")
# Contracted subjects that can start a relative clause: "the thing I'm worried about".
SUBJECT_CONTRACTIONS = _words(
    "i'm we're you're they're he's she's i've we've you've they've i'd we'd you'd they'd"
)
# Heads of a relative clause that strands its preposition: "the people I work with".
STRANDING_HEADS = _words(
    """what who whom which nothing something anything everything someone somebody anyone
    people person one ones thing things stuff place places friend friends job"""
)
# "and then", "that maybe", "I guess maybe": a linker after these starts a new thought.
LINKER_AFTER = CONJUNCTIONS | _words("so that think thought guess mean thinking")
# "I felt really", "it seemed very": these want an adjective after an adverb.
LINKING_VERBS = _words(
    "feel feels felt feeling seem seems seemed look looks looked get gets got getting become became"
)
DEMONSTRATIVES = _words("that this these those")
# After these, "that"/"this" is the object: "proud of that", "I did that", "I like this".
OBJECT_DEMONSTRATIVE_AFTER = PREPOSITIONS | _words(
    """like liked love loved hate hated enjoy enjoyed did do does done want wanted need
        needed got get had have made make ate bought tried watched read finished fixed
        appreciate appreciated all than and after before about on at in off up"""
)
# "I know that", "I said that": the thing itself, or the start of a clause? Ambiguous.
KNOW_SAY_VERBS = _words(
    """know knew said say saw see heard remember remembered understand understood noticed
    mean meant"""
)
# Verbs that need a complement when they end a new clause: "I realized", "I want".
COMPLEMENT_VERBS = _words(
    """realize realized realise realised learned learnt noticed want wanted need needed
    wish feel felt think thought decided told said mean meant figured found discovered
    hope went got had made spent saw bought"""
)
# What may come before a subject that starts a clause (rather than a relative clause).
CLAUSE_START_BEFORE = (
    CONJUNCTIONS
    | LINKERS
    | DISCOURSE_LEAD_INS
    | _words(
        """that then when while since until before after once though today yesterday
        tomorrow tonight honestly basically also think guess said"""
    )
)
# "I would", "we could", "I didn't": elliptical, or a clause still to come.
AUXILIARIES = COPULAS_AND_AUX - COPULAS | _words("do does did have has had")
# "for a while", "a little while": "while" as a noun, not a conjunction.
TIME_WHILE_BEFORE = _words("a little long good whole short for awhile quite the")
# "when my boss": these open a clause; with only a noun phrase after them the verb is missing.
VERBLESS_OPENERS = _words("when while whenever")
# Subjects that open a clause only right after a clause opener: "the fact that everyone".
LATE_SUBJECTS = _words("everyone everybody someone somebody nobody it you people")
LATE_SUBJECT_AFTER = _words(
    "that because cause cuz when if since while although though whether unless until"
)
# Comparatives that need their adjective: "trying to be more", "it was the most".
COMPARATIVES = _words("more most less least")
COMPARATIVE_OPEN_AFTER = COPULAS_AND_AUX | LINKING_VERBS | _words("be being been the")
# Phrasal verbs whose particle still needs a complement: "it started off", "I ended up".
OPEN_PHRASALS = tuple(
    tuple(p.split())
    for p in (
        "started off",
        "start off",
        "starts off",
        "ended up",
        "end up",
        "ends up",
        "turned out",
        "turns out",
        "kicked off",
    )
)
# "The hardest thing", "my favorite part": the subject of a point still to be made.
SUPERLATIVES = _words(
    """best worst hardest easiest biggest toughest nicest happiest saddest funniest
    strangest weirdest greatest favorite favourite main first last other only"""
)
POINT_NOUNS = _words("thing part bit moment problem reason point issue")
# "I want to keep", "to be": after "to" these verbs need their object or complement.
INFINITIVE_OPEN_VERBS = _words(
    "keep get make have be bring take find give spend carry put become focus stay"
)
# "a bit of that", "more of that": "that" may be the determiner of a noun still to come.
QUANTITY_OF = _words("bit lot lots some more most much little all none any kind sort")
# Discourse adverbs that, alone, only announce the answer: "so basically".
LEAD_ADVERBS = _words("basically actually literally essentially honestly anyway seriously")
# Closing tags: "it was okay I guess", "pretty rough honestly". Alone they are lead-ins.
TAGS = (
    ("to", "be", "honest"),
    ("i", "guess"),
    ("i", "suppose"),
    ("i", "think"),
    ("i", "believe"),
    ("honestly",),
)
# Tags that are a whole answer to a yes/no question: "Did it help?" "I guess."
YES_NO_TAGS = frozenset({("i", "guess"), ("i", "suppose")})

# --- strong finishes: complete after a shorter pause (services.completion.local) ---

# Tags that wind an answer down (not "I think", which often leads on).
WINDING_DOWN_TAGS = frozenset(
    {("to", "be", "honest"), ("i", "guess"), ("i", "suppose"), ("honestly",)}
)
# Whole answers on their own (after leading fillers): "nothing really", "not much".
WHOLE_ANSWERS = frozenset(
    tuple(p.split())
    for p in (
        "nothing",
        "nothing really",
        "not much",
        "not much really",
        "not really",
        "no idea",
        "i have no idea",
        "not sure",
        "i'm not sure",
        "i don't know",
        "i really don't know",
        "not at all",
        "nothing comes to mind",
        "nothing i can think of",
        "nothing in particular",
        "all good",
        "same as always",
        "same as usual",
        "same as yesterday",
        "i think so",
        "i don't think so",
        "i guess so",
        "i hope so",
        "i suppose so",
    )
)
NUMBER_WORDS = _words(
    """zero one two three four five six seven eight nine ten eleven twelve fifteen twenty
    thirty half"""
)
# Questions whose answer is a number: "How many hours...?", "rate your day".
NUMERIC_QUESTION_WORDS = _words("many much rate rating scale number")
