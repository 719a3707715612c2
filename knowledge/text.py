"""Plain-text helpers of the knowledge base: folding, words, Markdown titles and passages."""

import re
import unicodedata

# Words of this length or more are candidates for typo correction (shorter ones match too much).
MIN_CORRECTED_WORD = 4
MAX_TERM_LENGTH = 40
_WORD = re.compile(rf"[^\W\d_]{{3,{MAX_TERM_LENGTH}}}")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$")
_MARKDOWN_NOISE = re.compile(r"(^|\s)#{1,6}\s|[*_`]{1,3}|^\s*>\s?|!?\[([^\]]*)\]\([^)]*\)", re.MULTILINE)

CHUNK_TARGET_CHARS = 1200


def fold(text: str) -> str:
    """Lower case without accents (`Não` → `nao`), as the vocabulary stores words."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char)).lower()


def words(text: str) -> list[str]:
    """The distinct folded words (letters only, 3 to 40 of them) of a text, in order of appearance."""
    return list(dict.fromkeys(_WORD.findall(fold(text))))


def markdown_title(text: str) -> tuple[str, str]:
    """(title, body) of a Markdown document: the first heading is the title, the rest the body.
    Without a heading the title is empty and the body is the whole text."""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        match = _HEADING.match(line)
        if match:
            return match.group(1).strip(), "\n".join(lines[index + 1 :]).strip()
        break
    return "", text.strip()


def markdown_plain(text: str) -> str:
    """Markdown without its markup characters (headings, emphasis, links keep their text)."""
    return _MARKDOWN_NOISE.sub(lambda match: (match.group(1) or "") + (match.group(2) or ""), text)


def markdown_passages(text: str, target: int = CHUNK_TARGET_CHARS) -> list[str]:
    """The body split into passages of about `target` characters: a heading starts a new passage,
    paragraphs are kept whole unless one alone is longer than twice the target."""
    passages: list[str] = []
    current: list[str] = []
    size = 0

    def flush():
        nonlocal current, size
        if current:
            passages.append("\n\n".join(current))
        current, size = [], 0

    for block in re.split(r"\n\s*\n", text.strip()):
        block = block.strip()
        if not block:
            continue
        if _HEADING.match(block.splitlines()[0]) or size + len(block) > target:
            flush()
        while len(block) > 2 * target:
            cut = block.rfind(" ", 0, target)
            cut = cut if cut > 0 else target
            current.append(block[:cut].strip())
            flush()
            block = block[cut:].strip()
        current.append(block)
        size += len(block)
    flush()
    return passages


def vector_signs(vector) -> str:
    """One bit a dimension, 1 where the value is positive: the Hamming distance of two such strings
    approximates the angle of the vectors (search's cheap first pass)."""
    return "".join("1" if value > 0 else "0" for value in vector)
