"""Errors of the knowledge base, each with a stable `code` (rendered as `{code, detail, fields}`)."""

from django.utils.translation import gettext_lazy as _

from config.errors import Conflict, ValidationFailed


class InvalidArticle(ValidationFailed):
    """`fields` says which fields are wrong."""

    code = "invalid_article"
    default_detail = _("This article is invalid.")


class InvalidImportFile(ValidationFailed):
    code = "invalid_import_file"
    default_detail = _("The file is not a CSV or Markdown file Prosa can read.")


class InvalidEmbedding(ValidationFailed):
    code = "invalid_embedding"
    default_detail = _("An embedding is a non-empty list of numbers.")


class ProposalNotPending(Conflict):
    code = "proposal_not_pending"
    default_detail = _("This proposal was already reviewed.")


class ProposalStale(Conflict):
    """The article changed after the AI wrote the proposal: accepting it would undo that change."""

    code = "proposal_stale"
    default_detail = _("The article changed after this proposal was made. Reject it and run optimize again.")
