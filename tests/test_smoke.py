def test_healthz_reports_database_and_redis(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "redis": "ok"}


def test_login_returns_tenant_bound_tokens(api_client, admin_user, tenant, password):
    response = api_client.post("/api/v1/auth/login", {"email": admin_user.email, "password": password}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["tenant"]["slug"] == tenant.slug
