"""Browser sessions for the inbox: login (throttled like the API's), logout, "forgot password"
through Django's reset views, and switching between the tenants a user belongs to."""

from django import forms
from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.db import transaction
from django.http import Http404, HttpResponseRedirect
from django.urls import reverse, reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from accounts.selectors import membership_get_by_tenant_id
from accounts.services import user_tokens_revoke
from accounts.throttling import client_ip, login_failures
from tenants.selectors import SESSION_TENANT_KEY


class EmailAuthenticationForm(AuthenticationForm):
    """Email and password. Failed attempts count per email and IP, like the API's login."""

    username = forms.EmailField(label=_("Email"), widget=forms.EmailInput(attrs={"autofocus": True}))

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": _("That email and password do not match an account."),
        "throttled": _("Too many failed attempts. Wait a few minutes and try again."),
    }

    def clean(self):
        from accounts.exceptions import LoginThrottled

        email = (self.cleaned_data.get("username") or "").strip().lower()
        failures = login_failures(email=email, ip=client_ip(self.request))
        try:
            failures.raise_if_blocked()
        except LoginThrottled:
            raise forms.ValidationError(self.error_messages["throttled"], code="throttled") from None
        self.cleaned_data["username"] = email
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            failures.record()
            raise
        failures.clear()
        return cleaned


class LoginView(auth_views.LoginView):
    form_class = EmailAuthenticationForm
    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def get_default_redirect_url(self):
        return reverse("inbox:index")


class LogoutView(auth_views.LogoutView):
    next_page = reverse_lazy("login")


class PasswordResetView(auth_views.PasswordResetView):
    """Sends the link through the configured email backend; says the same whether or not the
    address has an account. The link is built from PUBLIC_URL, like the API's reset links."""

    template_name = "registration/password_reset_form.html"
    email_template_name = "registration/password_reset_email.txt"
    subject_template_name = "registration/password_reset_subject.txt"
    success_url = reverse_lazy("password_reset_done")

    @property
    def extra_email_context(self):
        return {"public_url": settings.PUBLIC_URL}


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "registration/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """A new password by the emailed link also ends the user's API sessions, as the API's reset does:
    whoever knew the old password may hold tokens issued with it."""

    template_name = "registration/password_reset_confirm.html"
    success_url = reverse_lazy("password_reset_complete")

    def form_valid(self, form):
        with transaction.atomic():
            response = super().form_valid(form)
            user_tokens_revoke(user=form.user)
        return response


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "registration/password_reset_complete.html"


@require_POST
def switch_tenant(request):
    """Makes another of the user's tenants the session's current one (TenantMiddleware reads it)."""
    if not request.user.is_authenticated:
        return HttpResponseRedirect(reverse("login"))
    membership = membership_get_by_tenant_id(user=request.user, tenant_id=request.POST.get("tenant", ""))
    if membership is None:
        raise Http404()
    request.session[SESSION_TENANT_KEY] = membership.tenant_id
    target = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("inbox:index")
    return HttpResponseRedirect(target)
