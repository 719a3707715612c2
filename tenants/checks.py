from django.apps import apps
from django.core.checks import Error, register

# Apps whose every concrete model holds one tenant's data.
TENANT_APPS = {"whatsapp", "tickets", "campaigns", "crm", "flows", "knowledge", "ai"}
# Models in other apps that are tenant data too (checked the same way).
EXTRA_TENANT_MODELS = {"accounts.Membership", "accounts.Invite"}


@register()
def tenant_models_inherit_base(app_configs=None, **kwargs):
    from tenants.models import TenantOwned

    errors = []
    if app_configs is None:
        models = apps.get_models()
    else:  # `manage.py check <app_label>` checks only those apps
        models = [model for app_config in app_configs for model in app_config.get_models()]
    for model in models:
        label = f"{model._meta.app_label}.{model.__name__}"
        if model._meta.app_label in TENANT_APPS or label in EXTRA_TENANT_MODELS:
            if not issubclass(model, TenantOwned):
                errors.append(
                    Error(
                        f"{label} holds tenant data but does not inherit tenants.models.TenantOwned.",
                        hint="Inherit TenantOwned so that its default manager fails closed.",
                        obj=model,
                        id="tenants.E001",
                    )
                )
    return errors
