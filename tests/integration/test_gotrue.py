"""The GoTrue (Supabase Auth) subset at `/auth/v1`: signup, password and refresh-token grants,
`user` and `logout`, in GoTrue's shapes, driven over raw HTTP (httpx, to see statuses, headers
and both error shapes) and by supabase-py 2.34.1's own auth client.

Every test signs up users of its own (unique emails), so none depends on another's leftovers.
The supabase-js flow (sign up, sign in, join a private channel allowed by an `auth.uid()`
policy, with no token minted by hand) is in `test_gotrue_js.py`.
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import bcrypt
import httpx
import jwt as pyjwt
import pytest
from supabase import create_client
from supabase_auth.errors import AuthApiError, AuthWeakPasswordError

NEW_API = {"X-Supabase-Api-Version": "2024-01-01"}  # what auth-js and supabase-py send
PASSWORD = "correct horse"


def new_email() -> str:
    return f"User-{uuid.uuid4().hex[:10]}@Example.com"


@pytest.fixture
def http(sandbox):
    with httpx.Client(
        base_url=sandbox.url + "/auth/v1", headers={"apikey": sandbox.anon_key}, timeout=15
    ) as client:
        yield client


def signup(http, email: str | None = None, password: str = PASSWORD, **body) -> dict:
    r = http.post("/signup", json={"email": email or new_email(), "password": password, **body})
    assert r.status_code == 200, r.text
    return r.json()


def claims_of(sandbox, token: str) -> dict:
    return pyjwt.decode(token, sandbox.jwt_secret, algorithms=["HS256"], audience="authenticated")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_session(sandbox, body: dict, email: str) -> dict:
    """GoTrue's AccessTokenResponse; returns the access token's claims."""
    now = time.time()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert abs(body["expires_at"] - (now + 3600)) < 5
    assert isinstance(body["refresh_token"], str) and len(body["refresh_token"]) == 12
    user = body["user"]
    uuid.UUID(user["id"])
    assert (user["aud"], user["role"], user["email"]) == ("authenticated", "authenticated", email)
    assert user["email_confirmed_at"] and user["confirmed_at"] and user["last_sign_in_at"]
    assert user["app_metadata"] == {"provider": "email", "providers": ["email"]}
    assert user["phone"] == "" and user["is_anonymous"] is False
    [identity] = user["identities"]
    assert (identity["provider"], identity["user_id"], identity["id"]) == (
        "email",
        user["id"],
        user["id"],
    )
    assert identity["identity_data"]["email"] == email
    claims = claims_of(sandbox, body["access_token"])
    assert claims["sub"] == user["id"]
    assert (claims["role"], claims["aud"], claims["email"]) == ("authenticated",) * 2 + (email,)
    assert claims["exp"] == body["expires_at"]
    uuid.UUID(claims["session_id"])
    assert claims["aal"] == "aal1" and claims["amr"][0]["method"] == "password"
    return claims


# --------------------------------------------------------------------------------------------
# signup
# --------------------------------------------------------------------------------------------


def test_signup_confirms_at_once_and_returns_a_session(sandbox, http, sql):
    email = new_email()
    body = signup(http, email, data={"display_name": "Ada"})
    claims = assert_session(sandbox, body, email.lower())
    assert body["user"]["user_metadata"] == {"display_name": "Ada", "email_verified": True}
    assert claims["user_metadata"]["display_name"] == "Ada"
    # a real row in auth.users, the password hashed by bcrypt as GoTrue hashes it (cost 10)
    [(uid, stored_email, hashed, confirmed)] = sql(
        "select id::text, email, encrypted_password, email_confirmed_at is not null"
        " from auth.users where id = %s",
        body["user"]["id"],
    )
    assert (uid, stored_email, confirmed) == (body["user"]["id"], email.lower(), True)
    assert hashed.startswith("$2a$10$") and PASSWORD not in hashed
    assert bcrypt.checkpw(PASSWORD.encode(), hashed.encode())
    [(sessions, tokens)] = sql(
        "select (select count(*) from auth.sessions where user_id = %s),"
        " (select count(*) from auth.refresh_tokens where user_id = %s and not revoked)",
        uid,
        uid,
    )
    assert (sessions, tokens) == (1, 1)


def test_signup_fires_an_apps_trigger_on_auth_users(http, sql):
    """The usual Supabase pattern: a profile row made by a trigger on auth.users, with a foreign
    key to it. The trigger only touches this test's users, and is dropped at the end."""
    tag = uuid.uuid4().hex[:8]
    table, fn = f"profiles_{tag}", f"make_profile_{tag}"
    sql(
        f"""
        create table public.{table} (
          id uuid primary key references auth.users (id) on delete cascade, email text);
        create function public.{fn}() returns trigger language plpgsql security definer as $$
          begin insert into public.{table} (id, email) values (new.id, new.email); return new; end
        $$;
        create trigger {fn} after insert on auth.users for each row
          when (new.email like 'p-{tag}-%') execute function public.{fn}();
        """
    )
    try:
        body = signup(http, f"p-{tag}-x@example.com")
        assert sql(f"select id::text, email from public.{table}") == [
            (body["user"]["id"], f"p-{tag}-x@example.com")
        ]
    finally:
        sql(f"drop trigger if exists {fn} on auth.users; drop function if exists public.{fn}()")
        sql(f"drop table if exists public.{table}")


def test_signup_errors_in_both_api_versions(http):
    email = new_email()
    signup(http, email)
    cases = [
        # (body, status, error_code, message)
        ({"email": email, "password": PASSWORD}, 422, "user_already_exists", None),
        ({"email": new_email(), "password": "12345"}, 422, "weak_password", None),
        ({"email": "not-an-email", "password": PASSWORD}, 400, "validation_failed", None),
        ({"email": new_email()}, 400, "validation_failed", "Signup requires a valid password"),
        ({"password": PASSWORD}, 422, "anonymous_provider_disabled", None),
        ({"email": new_email(), "password": "x" * 73}, 400, "validation_failed", None),
    ]
    messages = {
        "user_already_exists": "User already registered",
        "weak_password": "Password should be at least 6 characters.",
        "anonymous_provider_disabled": "Anonymous sign-ins are disabled",
    }
    for body, status, code, message in cases:
        old = http.post("/signup", json=body)
        new = http.post("/signup", json=body, headers=NEW_API)
        assert (old.status_code, new.status_code) == (status, status), (body, old.text)
        message = message or messages.get(code) or old.json()["msg"]
        expected_old = {"code": status, "error_code": code, "msg": message}
        expected_new = {"code": code, "message": message}
        if code == "weak_password":
            expected_old["weak_password"] = expected_new["weak_password"] = {"reasons": ["length"]}
        assert old.json() == expected_old
        assert new.json() == expected_new
        assert "x-supabase-api-version" not in old.headers
        assert new.headers["x-supabase-api-version"] == "2024-01-01"
    assert http.post("/signup", json={"email": "a@", "password": PASSWORD}).json()["msg"] == (
        "Unable to validate email address: invalid format"
    )
    assert http.post("/signup", json={"email": new_email(), "password": "x" * 73}).json()[
        "msg"
    ] == ("Password cannot be longer than 72 characters")


def test_bad_json_is_refused_in_gotrue_words(http):
    r = http.post("/signup", content=b"{nope", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    body = r.json()
    assert (body["code"], body["error_code"]) == (400, "bad_json")
    assert body["msg"].startswith("Could not parse request body as JSON: ")
    r = http.post("/signup", json={"email": 5, "password": PASSWORD})
    assert r.json()["msg"] == (
        "Could not parse request body as JSON: json: cannot unmarshal number into Go struct"
        " field SignupParams.email of type string"
    )
    assert r.headers["x-sb-error-code"] == "bad_json"


# --------------------------------------------------------------------------------------------
# token?grant_type=password
# --------------------------------------------------------------------------------------------


def test_password_grant_signs_in_with_a_new_session(sandbox, http):
    email = new_email()
    first = signup(http, email)
    r = http.post(
        "/token", params={"grant_type": "password"}, json={"email": email, "password": PASSWORD}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    claims = assert_session(sandbox, body, email.lower())
    assert body["user"]["id"] == first["user"]["id"]
    assert claims["session_id"] != claims_of(sandbox, first["access_token"])["session_id"]
    assert body["refresh_token"] != first["refresh_token"]


def test_password_grant_refusals(http):
    email = new_email()
    signup(http, email)
    invalid = {"code": 400, "error_code": "invalid_credentials", "msg": "Invalid login credentials"}
    for creds in (
        {"email": email, "password": "wrong password"},
        {"email": new_email(), "password": PASSWORD},  # nobody
    ):
        r = http.post("/token?grant_type=password", json=creds)
        assert (r.status_code, r.json()) == (400, invalid)
        r = http.post("/token?grant_type=password", json=creds, headers=NEW_API)
        assert (r.status_code, r.json()) == (
            400,
            {"code": "invalid_credentials", "message": "Invalid login credentials"},
        )
    r = http.post("/token?grant_type=password", json={"password": PASSWORD})
    assert r.json() == {
        "code": 400,
        "error_code": "validation_failed",
        "msg": "missing email or phone",
    }
    r = http.post("/token?grant_type=magic", json={})
    assert r.json() == {
        "code": 400,
        "error_code": "invalid_credentials",
        "msg": "unsupported_grant_type",
    }


def test_unconfirmed_users_cannot_sign_in(http, sql):
    """A user created by SQL without a confirmation, as seed scripts sometimes do."""
    email = new_email().lower()
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
    sql(
        "insert into auth.users (id, aud, role, email, encrypted_password, raw_app_meta_data,"
        " raw_user_meta_data, created_at, updated_at) values (gen_random_uuid(), 'authenticated',"
        " 'authenticated', %s, %s, '{}', '{}', now(), now())",
        email,
        hashed,
    )
    r = http.post("/token?grant_type=password", json={"email": email, "password": PASSWORD})
    assert (r.status_code, r.json()) == (
        400,
        {"code": 400, "error_code": "email_not_confirmed", "msg": "Email not confirmed"},
    )
    sql("update auth.users set email_confirmed_at = now() where email = %s", email)
    r = http.post("/token?grant_type=password", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200 and r.json()["user"]["email"] == email


# --------------------------------------------------------------------------------------------
# token?grant_type=refresh_token
# --------------------------------------------------------------------------------------------


def refresh(http, token: str) -> httpx.Response:
    return http.post("/token?grant_type=refresh_token", json={"refresh_token": token})


def test_refresh_tokens_rotate(sandbox, http, sql):
    body = signup(http)
    r0 = body["refresh_token"]
    session = claims_of(sandbox, body["access_token"])["session_id"]

    step1 = refresh(http, r0)
    assert step1.status_code == 200, step1.text
    r1 = step1.json()["refresh_token"]
    assert r1 != r0 and len(r1) == 12
    assert claims_of(sandbox, step1.json()["access_token"])["session_id"] == session
    assert step1.json()["user"]["id"] == body["user"]["id"]

    # the parent of the active token, presented again (a client that lost the answer): the same
    # active token comes back, nothing new is issued
    again = refresh(http, r0)
    assert again.status_code == 200 and again.json()["refresh_token"] == r1

    r2 = refresh(http, r1).json()["refresh_token"]
    assert r2 not in (r0, r1)
    rows = sql(
        "select token, revoked, parent from auth.refresh_tokens where session_id = %s order by id",
        session,
    )
    assert rows == [(r0, True, None), (r1, True, r0), (r2, False, r1)]

    # r0 again, once the reuse interval (10 s) is over: refused, and the whole family revoked
    sql(
        "update auth.refresh_tokens set updated_at = now() - interval '1 minute' where token = %s",
        r0,
    )
    reused = refresh(http, r0)
    assert (reused.status_code, reused.json()) == (
        400,
        {
            "code": 400,
            "error_code": "refresh_token_already_used",
            "msg": "Invalid Refresh Token: Already Used",
        },
    )
    assert sql(
        "select bool_and(revoked) from auth.refresh_tokens where session_id = %s", session
    ) == [(True,)]


def test_concurrent_refreshes_of_one_token_agree(http):
    """Two tabs refreshing the same token at once both get the one child token."""
    token = signup(http)["refresh_token"]
    with ThreadPoolExecutor(8) as pool:
        for _ in range(5):
            answers = list(pool.map(lambda t: refresh(http, t), [token] * 8))
            assert [a.status_code for a in answers] == [200] * 8
            children = {a.json()["refresh_token"] for a in answers}
            assert len(children) == 1 and token not in children
            token = children.pop()


def test_refresh_refusals(http):
    r = refresh(http, "nosuchtoken1")
    assert (r.status_code, r.json()) == (
        400,
        {
            "code": 400,
            "error_code": "refresh_token_not_found",
            "msg": "Invalid Refresh Token: Refresh Token Not Found",
        },
    )
    r = http.post("/token?grant_type=refresh_token", json={})
    assert (r.status_code, r.json()) == (
        400,
        {"error": "invalid_request", "error_description": "refresh_token required"},
    )


# --------------------------------------------------------------------------------------------
# user, logout
# --------------------------------------------------------------------------------------------


def test_user_returns_the_signed_in_user(http):
    body = signup(http)
    r = http.get("/user", headers=bearer(body["access_token"]))
    assert r.status_code == 200, r.text
    assert r.json() == {**body["user"], "last_sign_in_at": r.json()["last_sign_in_at"]}


def test_user_refusals(sandbox, http, mint):
    def get(token: str | None, headers: dict | None = None) -> tuple[int, dict]:
        r = http.get("/user", headers={**(bearer(token) if token else {}), **(headers or {})})
        return r.status_code, r.json()

    def err(status: int, code: str, msg: str) -> tuple[int, dict]:
        return status, {"code": status, "error_code": code, "msg": msg}

    assert get(None) == err(401, "no_authorization", "This endpoint requires a valid Bearer token")
    assert get(sandbox.anon_key) == err(403, "bad_jwt", "invalid claim: missing sub claim")
    nobody = mint("authenticated", sub=str(uuid.uuid4()), aud="authenticated")
    assert get(nobody) == err(403, "user_not_found", "User from sub claim in JWT does not exist")
    prefix = "invalid JWT: unable to parse or verify signature, "
    assert get("garbage") == err(
        403, "bad_jwt", prefix + "token is malformed: token contains an invalid number of segments"
    )
    body = signup(http)
    uid = body["user"]["id"]
    expired = mint("authenticated", sub=uid, aud="authenticated", ttl=-10)
    assert get(expired) == err(
        403, "bad_jwt", prefix + "token has invalid claims: token is expired"
    )
    forged = pyjwt.encode(claims_of(sandbox, body["access_token"]), "x" * 40, algorithm="HS256")
    assert get(forged) == err(
        403, "bad_jwt", prefix + "token signature is invalid: signature is invalid"
    )
    no_aud = mint("authenticated", sub=uid)
    assert get(no_aud) == err(
        400, "validation_failed", "Token audience doesn't match request audience"
    )
    assert get(body["access_token"], NEW_API) == (200, get(body["access_token"])[1])


def test_logout_ends_every_session_of_the_user(http):
    email = new_email()
    first = signup(http, email)
    second = http.post(
        "/token?grant_type=password", json={"email": email, "password": PASSWORD}
    ).json()
    r = http.post("/logout", headers=bearer(second["access_token"]))
    assert (r.status_code, r.content) == (204, b"")
    for body in (first, second):
        r = http.get("/user", headers=bearer(body["access_token"]))
        assert (r.status_code, r.json()) == (
            403,
            {
                "code": 403,
                "error_code": "session_not_found",
                "msg": "Session from session_id claim in JWT does not exist",
            },
        )
        assert refresh(http, body["refresh_token"]).json()["error_code"] == (
            "refresh_token_not_found"
        )


def test_logout_scopes(http):
    email = new_email()
    login = {"email": email, "password": PASSWORD}
    first = signup(http, email)
    second = http.post("/token?grant_type=password", json=login).json()
    third = http.post("/token?grant_type=password", json=login).json()

    def logout(body: dict, scope: str) -> httpx.Response:
        return http.post(f"/logout?scope={scope}", headers=bearer(body["access_token"]))

    def alive(*bodies: dict) -> list[int]:
        return [http.get("/user", headers=bearer(b["access_token"])).status_code for b in bodies]

    r = logout(first, "nope")
    assert (r.status_code, r.json()["msg"]) == (400, 'Unsupported logout scope "nope"')
    assert logout(first, "local").status_code == 204
    assert alive(first, second, third) == [403, 200, 200]
    assert logout(third, "others").status_code == 204
    assert alive(second, third) == [403, 200]
    assert http.post("/logout").json()["error_code"] == "no_authorization"


# --------------------------------------------------------------------------------------------
# the gateway in front: apikey, CORS, unknown paths
# --------------------------------------------------------------------------------------------


def test_apikey_is_required_as_on_supabase(sandbox, http):
    body = {"email": new_email(), "password": PASSWORD}
    url = sandbox.url + "/auth/v1/signup"
    r = httpx.post(url, json=body)
    assert (r.status_code, r.json()) == (
        401,
        {
            "message": "No API key found in request",
            "hint": "No `apikey` request header or url param was found.",
        },
    )
    r = httpx.post(url, json=body, headers={"apikey": "not-a-key"})
    assert (r.status_code, r.json()) == (
        401,
        {
            "message": "Invalid API key",
            "hint": "Double check your Supabase `anon` or `service_role` API key.",
        },
    )
    # a Bearer token alone is not an API key; the `apikey` query parameter is
    assert httpx.post(url, json=body, headers=bearer(sandbox.anon_key)).status_code == 401
    assert httpx.post(url, json=body, params={"apikey": sandbox.anon_key}).status_code == 200


def test_unknown_paths_and_methods_answer_json(sandbox, http):
    r = http.get("/nope/deeper")
    assert (r.status_code, r.json()) == (
        404,
        {"code": 404, "error_code": "not_found", "msg": "404 page not found"},
    )
    assert r.headers["content-type"].startswith("application/json")
    r = http.get("/nope", headers=NEW_API)
    assert (r.status_code, r.json()) == (
        404,
        {"code": "not_found", "message": "404 page not found"},
    )
    r = http.get("/signup")
    assert r.status_code == 405 and r.json()["error_code"] == "method_not_allowed"
    # without a key the gateway answers first, as on Supabase
    assert httpx.get(sandbox.url + "/auth/v1/nope").status_code == 401


def test_browsers_get_cors_answers(sandbox, http):
    r = httpx.options(
        sandbox.url + "/auth/v1/token?grant_type=password",
        headers={
            "Origin": "http://localhost:3000",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "apikey, content-type, x-supabase-api-version",
        },
    )
    assert r.status_code in (200, 204)
    assert r.headers["access-control-allow-origin"] in ("*", "http://localhost:3000")
    assert "POST" in r.headers["access-control-allow-methods"]
    assert "x-supabase-api-version" in r.headers["access-control-allow-headers"].lower()
    r = http.post("/token?grant_type=password", json={}, headers={"Origin": "http://x.test"})
    assert r.headers["access-control-allow-origin"] in ("*", "http://x.test")
    assert "X-Supabase-Api-Version" in r.headers["access-control-expose-headers"]


# --------------------------------------------------------------------------------------------
# supabase-py's own auth client
# --------------------------------------------------------------------------------------------


def test_supabase_py_signs_up_in_refreshes_and_out(sandbox):
    sb = create_client(sandbox.url, sandbox.anon_key)
    email = new_email()
    up = sb.auth.sign_up({"email": email, "password": PASSWORD})
    assert up.user.email == email.lower() and up.session is not None
    assert up.session.user.id == up.user.id

    other = create_client(sandbox.url, sandbox.anon_key)
    with pytest.raises(AuthApiError) as caught:
        other.auth.sign_in_with_password({"email": email, "password": "wrong password"})
    assert (caught.value.status, caught.value.code) == (400, "invalid_credentials")
    assert caught.value.message == "Invalid login credentials"
    with pytest.raises(AuthWeakPasswordError):
        other.auth.sign_up({"email": new_email(), "password": "123"})
    with pytest.raises(AuthApiError) as caught:
        other.auth.sign_up({"email": email, "password": PASSWORD})
    assert (caught.value.status, caught.value.code) == (422, "user_already_exists")

    signed_in = other.auth.sign_in_with_password({"email": email, "password": PASSWORD})
    assert signed_in.user.id == up.user.id
    assert other.auth.get_user().user.email == email.lower()
    refreshed = other.auth.refresh_session()
    assert refreshed.session.refresh_token != signed_in.session.refresh_token
    other.auth.sign_out()
    assert other.auth.get_session() is None
    # signing out was global: the first client's session is gone on the server too
    with pytest.raises(AuthApiError) as caught:
        sb.auth.get_user(up.session.access_token)
    assert caught.value.code == "session_not_found"
