"""Browser login, logout, password reset and tenant switching (accounts/views.py)."""

from django.urls import path
from django.views.generic import RedirectView

from accounts import views

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="inbox:index"), name="home"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("password-reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path("password-reset/sent/", views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    # The same address as the links the API and the admin send (accounts.services.password_reset_link).
    path("reset-password/<uidb64>/<token>/", views.PasswordResetConfirmView.as_view(), name="password_reset_confirm"),
    path("reset-password/done/", views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("switch-tenant/", views.switch_tenant, name="switch-tenant"),
]
