from django.contrib.admin.apps import AdminConfig


class ProsaAdminConfig(AdminConfig):
    default_site = "config.admin_site.ProsaAdminSite"
