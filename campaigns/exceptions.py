from django.utils.translation import gettext_lazy as _

from config.errors import Conflict, ValidationFailed


class CampaignInvalid(ValidationFailed):
    code = "campaign_invalid"
    default_detail = _("The campaign cannot be sent as it is.")


class CampaignStateConflict(Conflict):
    code = "campaign_state"
    default_detail = _("The campaign cannot do this in its current state.")


class CampaignNotEditable(Conflict):
    code = "campaign_not_editable"
    default_detail = _("Only draft campaigns can be changed.")


class AudienceFileInvalid(ValidationFailed):
    code = "audience_file_invalid"
    default_detail = _("The file must be a CSV with a phone column (phone, number, telefone or whatsapp).")
