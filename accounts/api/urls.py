from accounts.api import views
from config.api.routers import OptionalSlashRouter, route

router = OptionalSlashRouter()
router.register("users", views.UserViewSet, basename="user")
router.register("invites", views.InviteViewSet, basename="invite")

urlpatterns = [
    route("auth/register", views.RegisterView.as_view(), "auth-register"),
    route("auth/login", views.LoginView.as_view(), "auth-login"),
    route("auth/refresh", views.RefreshView.as_view(), "auth-refresh"),
    route("auth/logout", views.LogoutView.as_view(), "auth-logout"),
    route("auth/me", views.MeView.as_view(), "auth-me"),
    route("auth/password", views.PasswordChangeView.as_view(), "auth-password"),
    route("auth/password-reset", views.PasswordResetRequestView.as_view(), "auth-password-reset"),
    route("auth/password-reset/confirm", views.PasswordResetConfirmView.as_view(), "auth-password-reset-confirm"),
    route("invites/{token}/accept", views.InviteAcceptView.as_view(), "invite-accept"),
    *router.urls,
]
