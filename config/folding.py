"""Text compared without case or accents, in SQL, without PostgreSQL's `unaccent` extension
(pg_trgm is the only one every server here has): the contact search (crm.Contact.search_text)
and the knowledge base's title matching (knowledge.selectors) fold alike."""

import unicodedata

from django.db.models import Func, TextField, Value
from django.db.models.functions import Lower

# Accented letters folded to their base letter by `translate`. Both cases: any collation.
ACCENTED = "ÁÀÂÃÄÅÉÈÊËÍÌÎÏÓÒÔÕÖÚÙÛÜÇÑÝáàâãäåéèêëíìîïóòôõöúùûüçñýÿ"
UNACCENTED = "".join(unicodedata.normalize("NFKD", char)[0] for char in ACCENTED)


def folded(expression):
    """`expression` in lower case without accents, in SQL."""
    return Lower(Func(expression, Value(ACCENTED), Value(UNACCENTED), function="translate", output_field=TextField()))
