from django.utils.translation import gettext_lazy as _

from config.errors import Conflict, NotFound, ValidationFailed


class FlowInvalid(ValidationFailed):
    code = "flow_invalid"
    default_detail = _("The flow has errors: see the messages by node.")


class FlowNotPublished(Conflict):
    code = "flow_not_published"
    default_detail = _("Publish a version of the flow before activating it.")


class VersionNotFound(NotFound):
    code = "flow_version_not_found"
    default_detail = _("That version of the flow does not exist.")


class NoEarlierVersion(Conflict):
    code = "flow_no_earlier_version"
    default_detail = _("There is no earlier published version to go back to.")


class FlowNameTaken(Conflict):
    code = "flow_name_taken"
    default_detail = _("Another flow already has this name.")
