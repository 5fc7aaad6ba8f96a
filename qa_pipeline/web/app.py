"""The review app: FastAPI over the store and :mod:`qa_pipeline.review`.

Pages (``/t/{tenant}/...``) are rendered on the server; the JSON API (``/api/t/{tenant}/...``)
serves them and scripts. Mutations accept JSON only, which a cross-site form cannot send
without a CORS preflight, and the session cookie is ``SameSite=Strict``.
"""

# No "from __future__ import annotations": FastAPI resolves the dependency aliases
# (User, Filter, ...) defined inside create_app from the live annotations.
import datetime as dt
import json
import logging
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from qa_pipeline.errors import (
    AuthenticationError,
    NotFoundError,
    QAPipelineError,
    ReviewConflictError,
    ReviewError,
    StoreError,
)
from qa_pipeline.privacy.vault import display_kinds, for_display
from qa_pipeline.review.audio_access import clip_wav, recording_path
from qa_pipeline.review.calibration import calibration, disagreements
from qa_pipeline.review.calibration_sessions import SESSION_VERDICTS, CalibrationSessions
from qa_pipeline.review.cases import CaseLibrary, CaseQuery
from qa_pipeline.review.dashboard import (
    GROUPINGS,
    DashboardFilter,
    data_version,
    kpi_columns,
    latest_call_day,
    summary,
    to_csv,
    to_xlsx,
)
from qa_pipeline.review.desk import DISPUTE_DECISIONS, QueueFilter, ReviewDesk
from qa_pipeline.review.rescore import RubricCatalog
from qa_pipeline.review.tuning import latest_report as latest_tuning_report
from qa_pipeline.review.users import UserAccount, UserDirectory
from qa_pipeline.store import Store, TenantStore
from qa_pipeline.tenants import configured_tenant_acts
from qa_pipeline.version import __version__
from qa_pipeline.web.auth import COOKIE, LoginThrottle, SessionSigner, allowed
from qa_pipeline.web.i18n import (
    LANG_COOKIE,
    LANGUAGES,
    _,
    current_language,
    gettext_now,
    local_time,
    ngettext_now,
    pick_language,
    template_globals,
    use_language,
)
from qa_pipeline.web.settings import TenantDisplay, WebSettings

_HERE = Path(__file__).resolve().parent
logger = logging.getLogger(__name__)
_MAX_BODY_BYTES = 64 * 1024
DEFAULT_PERIOD_DAYS = 30
"""Dashboards and exports cover the last 30 call days unless a period is given."""
MAX_SESSION_CHOICES = 200
"""Newest calls offered when a supervisor sets up a calibration session."""


class _LoginRequired(Exception):
    pass


def create_app(store: Store, settings: WebSettings) -> FastAPI:
    """The app over ``store``."""
    app = FastAPI(title="callqa review", version=__version__, docs_url="/api/docs",
                  redoc_url=None, openapi_url="/api/openapi.json")
    app.mount("/static", StaticFiles(directory=_HERE / "static"), name="static")
    templates = Jinja2Templates(directory=str(_HERE / "templates"))
    templates.env.add_extension("jinja2.ext.i18n")
    templates.env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext_now, ngettext_now, newstyle=True)
    templates.env.globals.update(template_globals())
    users = UserDirectory(store)
    signer = SessionSigner(settings.secret_key, settings.session_max_age_s)
    throttle = LoginThrottle(settings.login_attempts, settings.login_lockout_s)
    catalog = RubricCatalog(settings.rubric_paths, configured_tenant_acts())
    dash_cache: OrderedDict[tuple[Any, ...], tuple[tuple[Any, ...], dict[str, Any]]] = (
        OrderedDict())
    cache_lock = threading.Lock()

    # --- errors -------------------------------------------------------------------------------
    def wants_page(request: Request) -> bool:
        # Browser navigation (a link, a form) asks for HTML; scripts' fetch() asks for */*.
        if not request.url.path.startswith("/api/"):
            return True
        return "text/html" in request.headers.get("accept", "")

    def error_response(request: Request, status: int, detail: str) -> Response:
        if not wants_page(request):
            return JSONResponse({"detail": detail}, status_code=status)
        user = None
        try:
            user = current_user(request)
        except _LoginRequired:
            pass
        tenant = request.path_params.get("tenant", "")
        if user is not None and tenant not in user.tenants:
            tenant = ""
        resp = page(request, "error.html", user, tenant=tenant, status=status, detail=detail)
        resp.status_code = status
        return resp

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return error_response(request, exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _bad_request(request: Request, exc: RequestValidationError) -> Response:
        fields = ", ".join(".".join(str(p) for p in e.get("loc", ())[1:]) or "request"
                           for e in exc.errors())
        return error_response(request, 422, f"invalid or missing: {fields}")

    @app.exception_handler(_LoginRequired)
    async def _to_login(request: Request, _exc: _LoginRequired) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": "sign in first"}, status_code=401)
        return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)

    @app.exception_handler(NotFoundError)
    async def _not_found(request: Request, exc: NotFoundError) -> Response:
        return error_response(request, 404, str(exc))

    @app.exception_handler(ReviewError)
    async def _refused(request: Request, exc: ReviewError) -> Response:
        conflict = isinstance(exc, ReviewConflictError)
        return error_response(request, 409 if conflict else 422, str(exc))

    @app.exception_handler(StoreError)
    async def _store_error(request: Request, exc: StoreError) -> Response:
        # The reason stays in the server log: it may name database hosts or keys' tenants.
        logger.error("storage error on %s: %s", request.url.path, exc)
        return error_response(request, 503, "storage error")

    # --- who is asking ------------------------------------------------------------------------
    def current_user(request: Request) -> UserAccount:
        cookie = request.cookies.get(COOKIE, "")
        if not cookie:
            raise _LoginRequired
        try:
            return signer.user(cookie, users)
        except AuthenticationError:
            raise _LoginRequired from None

    User = Annotated[UserAccount, Depends(current_user)]

    def tenant_of(user: UserAccount, tenant: str, action: str = "view") -> TenantStore:
        if tenant not in user.tenants:
            # Same answer as for a tenant that does not exist.
            raise HTTPException(404, "not found")
        if not allowed(user, action):
            raise HTTPException(403, f"role {user.role} may not {action}")
        return store.tenant(tenant)

    def desk(user: UserAccount, tenant: str, action: str = "view", *,
             blind: bool = False) -> ReviewDesk:
        """The user's review desk; ``blind``: without the calls they still score blind in
        a calibration session.
        """
        ts = tenant_of(user, tenant, action)
        hidden = frozenset(CalibrationSessions(ts).blind_calls(user.user_id) if blind else ())
        return ReviewDesk(ts, catalog, only_agent=user.agent_id if user.role == "agent" else "",
                          hidden_calls=hidden)

    def blind_calls(user: UserAccount, tenant: str) -> set[str]:
        return CalibrationSessions(tenant_of(user, tenant)).blind_calls(user.user_id)

    def library(user: UserAccount, tenant: str, action: str = "cases") -> CaseLibrary:
        return CaseLibrary(tenant_of(user, tenant, action),
                           audio_roots=settings.audio_roots_for(tenant),
                           base_dir=settings.base_dir)

    async def json_body(request: Request) -> dict[str, Any]:
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            raise HTTPException(415, "send application/json")
        raw = await request.body()
        if len(raw) > _MAX_BODY_BYTES:
            raise HTTPException(413, "request body too large")
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            raise HTTPException(400, "malformed JSON") from None
        if not isinstance(body, dict):
            raise HTTPException(400, "expected a JSON object")
        return body

    def activate_language(request: Request, tenant: str,
                          user: UserAccount | None) -> TenantDisplay:
        """Render this request in the user's language; the tenant's display settings.

        A signed-in user's choice is stored on their user record (the same on every device;
        their tenant's language until they choose); the cookie only serves pages shown
        before sign-in.
        """
        display = settings.tenant_display(tenant) if tenant else TenantDisplay()
        chosen = user.language if user is not None else request.cookies.get(LANG_COOKIE)
        use_language(pick_language(chosen or None, display.languages))
        return display

    def page(request: Request, name: str, user: UserAccount | None, **ctx: Any) -> HTMLResponse:
        tenant = str(ctx.get("tenant") or (user.tenants[0] if user and user.tenants else ""))
        display = activate_language(request, tenant, user)
        lang = current_language()
        zone = display.zone
        return templates.TemplateResponse(request, name, {
            "user": user, "version": __version__, "allowed": allowed, "lang": lang,
            "html_lang": lang.replace("_", "-"), "zone": zone,
            "local": lambda value, naive_is_utc=True: local_time(value, zone,
                                                                 naive_is_utc=naive_is_utc),
            "path": request.url.path, **ctx})

    # --- sign in ------------------------------------------------------------------------------
    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @app.get("/login", response_class=HTMLResponse)
    def login_page(request: Request, next: str = "/") -> HTMLResponse:  # noqa: A002
        return page(request, "login.html", None, next=_safe_next(next), error="")

    @app.post("/login")
    async def login(request: Request) -> Response:
        raw = await request.body()
        if len(raw) > _MAX_BODY_BYTES:
            raise HTTPException(413, "request body too large")
        form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
        user_id = form.get("username", "").strip().lower()
        nxt = _safe_next(form.get("next", "/"))
        if throttle.blocked(user_id):
            resp = page(request, "login.html", None, next=nxt,
                        error="too many failed attempts; try again later")
            resp.status_code = 429
            return resp
        try:
            user = users.authenticate(user_id, form.get("password", ""))
        except AuthenticationError as e:
            throttle.failed(user_id)
            resp = page(request, "login.html", None, next=nxt, error=str(e))
            resp.status_code = 401
            return resp
        throttle.succeeded(user_id)
        ok = RedirectResponse(nxt, status_code=303)
        ok.set_cookie(COOKIE, signer.issue(user), max_age=settings.session_max_age_s,
                        httponly=True, samesite="strict", secure=settings.secure_cookies)
        return ok

    @app.post("/logout")
    def logout(request: Request) -> Response:
        signer.revoke(request.cookies.get(COOKIE, ""))
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(COOKIE)
        return resp

    @app.get("/lang/{language}")
    def choose_language(request: Request, language: str,
                        next: str = "/") -> Response:  # noqa: A002
        if language not in LANGUAGES:
            raise HTTPException(404, "not found")
        try:
            user = current_user(request)
        except _LoginRequired:
            user = None
        if user is not None:
            users.set_language(user.user_id, language, valid=tuple(LANGUAGES))
        resp = RedirectResponse(_safe_next(next), status_code=303)
        resp.set_cookie(LANG_COOKIE, language, max_age=365 * 24 * 3600, httponly=True,
                        samesite="lax", secure=settings.secure_cookies)
        return resp

    @app.get("/")
    def home(user: User) -> Response:
        return RedirectResponse(f"/t/{user.tenants[0]}/queue", status_code=303)

    @app.get("/api/me")
    def me(user: User) -> dict[str, Any]:
        return {"user_id": user.user_id, "role": user.role, "tenants": list(user.tenants),
                "agent_id": user.agent_id}

    # --- queue --------------------------------------------------------------------------------
    def queue_filter(user: User, team: str = "", agent: str = "", day_from: str = "",
                     day_to: str = "", grade: str = "", fatal: str = "",
                     needs_review: str = "", sentiment: str = "", reviewed: str = "",
                     criterion_failed: str = "", assignee: str = "") -> QueueFilter:
        try:
            return QueueFilter(
                team_id=team, agent_id=agent, since=_day(day_from), until=_day(day_to, 1),
                grade=grade, has_fatal=_flag(fatal), needs_review=_flag(needs_review),
                sentiment=sentiment, human_reviewed=_flag(reviewed),
                criterion_failed=criterion_failed,
                assignee=user.user_id if assignee == "me" else assignee)
        except ReviewError as e:
            raise HTTPException(422, str(e)) from None

    Filter = Annotated[QueueFilter, Depends(queue_filter)]

    @app.get("/api/t/{tenant}/queue")
    def api_queue(tenant: str, user: User, f: Filter, offset: int = Query(0, ge=0),
                  limit: int = Query(50, ge=1, le=500), sort: str = "newest") -> dict[str, Any]:
        p = desk(user, tenant, blind=True).queue(f, offset=offset, limit=limit, sort=sort)
        return {"total": p.total, "offset": p.offset, "limit": p.limit,
                "rows": [_row(r) for r in p.rows]}

    @app.get("/t/{tenant}/queue", response_class=HTMLResponse)
    def queue_page(request: Request, tenant: str, user: User, f: Filter,
                   offset: int = Query(0, ge=0), sort: str = "newest") -> HTMLResponse:
        d = desk(user, tenant, blind=True)
        p = d.queue(f, offset=offset, limit=50, sort=sort)
        plan = []
        if allowed(user, "review"):
            plan_day = _day(request.query_params.get("plan_day", ""))
            plan = d.sampling_plan(plan_day.date() if plan_day else settings.today())
        return page(request, "queue.html", user, tenant=tenant, page=p,
                    rows=[_row(r) for r in p.rows], q=dict(request.query_params), plan=plan,
                    monitors=reviewers_of(tenant) if allowed(user, "review") else [],
                    # Only when the queue is empty: a store copied without its -wal file.
                    empty_store=not p.total and bool(empty_store_warning(store)),
                    store_url=store.display_url)

    def reviewers_of(tenant: str) -> list[str]:
        return [u.user_id for u in users.list()
                if tenant in u.tenants and not u.disabled and allowed(u, "review")]

    @app.post("/api/t/{tenant}/queue/assign")
    async def api_assign(request: Request, tenant: str, user: User) -> dict[str, Any]:
        d = desk(user, tenant, "review")
        body = await json_body(request)
        assignee = str(body.get("assignee", ""))
        ids = body.get("scorecard_ids")
        if not isinstance(ids, list) or not ids or len(ids) > 500 or not all(
                isinstance(i, int) for i in ids):
            raise HTTPException(422, "scorecard_ids: a list of 1 to 500 scorecard ids")
        if assignee and assignee not in reviewers_of(tenant):
            raise HTTPException(422, f"{assignee!r} is not a reviewer of this tenant")
        return {"assigned": d.assign(ids, assignee, actor=user.user_id), "assignee": assignee}

    @app.get("/api/t/{tenant}/sampling")
    def api_sampling(tenant: str, user: User, day: str) -> list[dict[str, Any]]:
        when = _day(day)
        if when is None:
            raise HTTPException(422, "day is required (YYYY-MM-DD)")
        return [_row(c) for c in desk(user, tenant, "review").sampling_plan(when.date())]

    # --- call page ----------------------------------------------------------------------------
    def refuse_blind(d: ReviewDesk, user: UserAccount, scorecard_id: int,
                     stored: dict[str, Any] | None = None) -> None:
        """403 when the user scores this card's call blind in a calibration session: its
        automated and human verdicts stay hidden (and unreviewable) until they hand in.
        """
        hidden = blind_calls(user, d.tenant.tenant_id)
        if hidden and (stored or d.card(scorecard_id))["call_id"] in hidden:
            raise HTTPException(403, "this call is in a calibration session you have not "
                                     "handed in yet")

    def call_bundle(d: ReviewDesk, scorecard_id: int, user: UserAccount) -> dict[str, Any]:
        stored = d.card(scorecard_id)
        refuse_blind(d, user, scorecard_id, stored)
        conv, card, _ = for_display(d.tenant.tenant_id,
                                    d.tenant.conversation(stored["call_id"])[0], stored)
        return {"card": card, "conversation": conv.to_dict(),
                "audit": d.audit_trail(scorecard_id),
                "disputes": [_row(x) for x in d.disputes(scorecard_id=scorecard_id)]}

    @app.get("/api/t/{tenant}/scorecards/{scorecard_id}")
    def api_scorecard(tenant: str, scorecard_id: int, user: User) -> dict[str, Any]:
        return call_bundle(desk(user, tenant), scorecard_id, user)

    @app.get("/t/{tenant}/scorecards/{scorecard_id}", response_class=HTMLResponse)
    def call_page(request: Request, tenant: str, scorecard_id: int, user: User) -> HTMLResponse:
        d = desk(user, tenant, blind=True)  # "next call" skips blind ones
        b = call_bundle(d, scorecard_id, user)
        activate_language(request, tenant, user)  # the script's messages are translated
        return page(request, "call.html", user, tenant=tenant, **b,
                    curve=_sentiment_curve(b["card"], b["conversation"]),
                    hits=_matched_texts(b["card"]), is_hit=word_is_hit,
                    low_confidence=LOW_CONFIDENCE,
                    next_call=d.next_in_queue(scorecard_id),
                    tag_history=(library(user, tenant).history(b["card"]["call_id"])
                                 if allowed(user, "cases") else []),
                    js_messages={m: gettext_now(m) for m in JS_MESSAGES})

    @app.get("/api/t/{tenant}/calls/{call_id}/audio")
    def api_audio(tenant: str, call_id: str, user: User) -> Response:
        d = desk(user, tenant)
        d.scorecard_id_for_call(call_id)  # 404 unless this user may see the call's scorecard
        call = d.tenant.call(call_id)
        path = recording_path(call.source_uri, settings.audio_roots_for(tenant),
                              settings.base_dir)
        headers = {"Cache-Control": "private, no-store"}
        if display_kinds(tenant) is not None:
            # Stored encrypted, shown redacted: the words that said personal data are beeped.
            _, _, spans = for_display(tenant, d.tenant.conversation(call_id)[0])
            return Response(clip_wav(path, 0.0, float("inf"), beeps=spans),
                            media_type="audio/wav", headers=headers)
        return FileResponse(path, media_type=_audio_type(path), headers=headers)

    # --- reviews and disputes -----------------------------------------------------------------
    @app.post("/api/t/{tenant}/scorecards/{scorecard_id}/items/{criterion_id}/review")
    async def api_review(request: Request, tenant: str, scorecard_id: int, criterion_id: str,
                         user: User) -> dict[str, Any]:
        d = desk(user, tenant, "review")
        refuse_blind(d, user, scorecard_id)
        body = await json_body(request)
        pointed = body.get("utterances") or []
        if not isinstance(pointed, list) or len(pointed) > 200:
            raise HTTPException(422, "utterances must be a list of at most 200 utterance "
                                     "indices")
        card = d.review_item(scorecard_id, criterion_id, str(body.get("verdict", "")),
                             reviewer=user.user_id, comment=str(body.get("comment", ""))[:2000],
                             utterances=pointed)
        return {"total_score": card["total_score"], "grade": card["grade"],
                "has_fatal": card["has_fatal"], "needs_review": card["needs_review"],
                "item": next(i for i in card["items"] if i["criterion_id"] == criterion_id)}

    @app.post("/api/t/{tenant}/scorecards/{scorecard_id}/confirm")
    def api_confirm_remaining(tenant: str, scorecard_id: int, user: User) -> dict[str, Any]:
        d = desk(user, tenant, "review")
        refuse_blind(d, user, scorecard_id)
        card = d.confirm_remaining(scorecard_id, reviewer=user.user_id)
        return {"total_score": card["total_score"], "grade": card["grade"],
                "has_fatal": card["has_fatal"], "needs_review": card["needs_review"],
                "human_reviewed": card["human_reviewed"], "items": card["items"]}

    @app.post("/api/t/{tenant}/scorecards/{scorecard_id}/items/{criterion_id}/disputes")
    async def api_dispute(request: Request, tenant: str, scorecard_id: int, criterion_id: str,
                          user: User) -> dict[str, Any]:
        d = desk(user, tenant, "dispute")
        body = await json_body(request)
        did = d.raise_dispute(scorecard_id, criterion_id, str(body.get("reason", ""))[:2000],
                              raised_by=user.user_id)
        return {"dispute_id": did}

    @app.get("/api/t/{tenant}/disputes")
    def api_disputes(tenant: str, user: User, status: str = "") -> list[dict[str, Any]]:
        return [_row(x) for x in desk(user, tenant).disputes(status=status)]

    @app.get("/t/{tenant}/disputes", response_class=HTMLResponse)
    def disputes_page(request: Request, tenant: str, user: User,
                      status: str = "") -> HTMLResponse:
        if status and status not in ("open", *DISPUTE_DECISIONS):
            raise HTTPException(422, f"status must be open, {', '.join(DISPUTE_DECISIONS)}")
        rows = [_row(x) for x in desk(user, tenant).disputes(status=status)]
        return page(request, "disputes.html", user, tenant=tenant, disputes=rows,
                    status=status)

    @app.post("/api/t/{tenant}/disputes/{dispute_id}/decision")
    async def api_decide(request: Request, tenant: str, dispute_id: int,
                         user: User) -> dict[str, Any]:
        d = desk(user, tenant, "decide")
        body = await json_body(request)
        rec = d.decide_dispute(dispute_id, str(body.get("decision", "")),
                               decided_by=user.user_id,
                               comment=str(body.get("comment", ""))[:2000],
                               verdict=str(body.get("verdict", "")))
        return _row(rec)

    # --- calibration --------------------------------------------------------------------------
    def calibration_rows(user: UserAccount, tenant: str, day_from: str, day_to: str,
                         threshold: float | None) -> list[dict[str, Any]]:
        ts = tenant_of(user, tenant, "calibration")
        return [a.to_dict() for a in calibration(
            ts, since=_day(day_from), until=_day(day_to, 1),
            kappa_threshold=settings.kappa_alert_threshold if threshold is None else threshold,
            min_items=settings.calibration_min_items)]

    @app.get("/api/t/{tenant}/calibration")
    def api_calibration(tenant: str, user: User, day_from: str = "", day_to: str = "",
                        threshold: float | None = Query(None, ge=-1, le=1)
                        ) -> list[dict[str, Any]]:
        return calibration_rows(user, tenant, day_from, day_to, threshold)

    @app.get("/api/t/{tenant}/calibration/{criterion_id}/disagreements")
    def api_disagreements(tenant: str, criterion_id: str, user: User, day_from: str = "",
                          day_to: str = "") -> list[dict[str, Any]]:
        ts = tenant_of(user, tenant, "calibration")
        return disagreements(ts, criterion_id, since=_day(day_from), until=_day(day_to, 1))

    @app.get("/t/{tenant}/calibration", response_class=HTMLResponse)
    def calibration_page(request: Request, tenant: str, user: User, day_from: str = "",
                         day_to: str = "", criterion: str = "") -> HTMLResponse:
        rows = calibration_rows(user, tenant, day_from, day_to, None)
        overturned = (disagreements(tenant_of(user, tenant, "calibration"), criterion,
                                    since=_day(day_from), until=_day(day_to, 1))
                      if criterion else [])
        return page(request, "calibration.html", user, tenant=tenant, rows=rows,
                    threshold=settings.kappa_alert_threshold,
                    min_items=settings.calibration_min_items, day_from=day_from, day_to=day_to,
                    criterion=criterion, overturned=overturned,
                    tuning=latest_tuning_report(tenant))

    # --- blind calibration sessions -----------------------------------------------------------
    def sessions_of(user: UserAccount, tenant: str, action: str = "calibration"
                    ) -> CalibrationSessions:
        return CalibrationSessions(tenant_of(user, tenant, action))

    def session_view(user: UserAccount, tenant: str, session_id: int) -> dict[str, Any]:
        """What ``user`` may see of a session: an invited monitor who has not handed in gets
        the blank sheet (never the automated or the other monitors' verdicts); everyone gets
        the results once the session is complete.
        """
        cs = sessions_of(user, tenant)
        info = cs.session(session_id)
        view: dict[str, Any] = {"session": info.to_dict(), "sheet": None, "results": None,
                                "own": None}
        if info.pending_for(user.user_id):
            view["sheet"] = cs.criteria(session_id)
        elif any(m.user_id == user.user_id for m in info.monitors):
            view["own"] = [{"call_id": c, "criterion_id": k, "verdict": v} for (c, k), v in
                           cs.own_verdicts(session_id, user.user_id).items()]
        if info.complete:
            view["results"] = cs.results(
                session_id, min_calls=settings.calibration_min_items).to_dict()
        return view

    @app.get("/api/t/{tenant}/calibration/sessions")
    def api_sessions(tenant: str, user: User) -> list[dict[str, Any]]:
        return [i.to_dict() for i in sessions_of(user, tenant).sessions()]

    @app.post("/api/t/{tenant}/calibration/sessions")
    async def api_create_session(request: Request, tenant: str, user: User) -> dict[str, Any]:
        cs = sessions_of(user, tenant, "sessions")
        body = await json_body(request)
        calls, monitors = body.get("call_ids"), body.get("monitors")
        if not isinstance(calls, list) or not all(isinstance(c, str) for c in calls):
            raise HTTPException(422, "call_ids: a list of call ids")
        if not isinstance(monitors, list) or not all(isinstance(m, str) for m in monitors):
            raise HTTPException(422, "monitors: a list of user ids")
        strangers = sorted(set(monitors) - set(reviewers_of(tenant)))
        if strangers:
            raise HTTPException(422, f"not reviewers of this tenant: {', '.join(strangers)}")
        sid = cs.create(str(body.get("title", "")), calls, monitors, created_by=user.user_id)
        return {"session_id": sid}

    @app.get("/api/t/{tenant}/calibration/sessions/{session_id}")
    def api_session(tenant: str, session_id: int, user: User) -> dict[str, Any]:
        return session_view(user, tenant, session_id)

    @app.post("/api/t/{tenant}/calibration/sessions/{session_id}/submit")
    async def api_submit_session(request: Request, tenant: str, session_id: int,
                                 user: User) -> dict[str, Any]:
        cs = sessions_of(user, tenant, "review")
        body = await json_body(request)
        rows = body.get("verdicts")
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise HTTPException(422, "verdicts: a list of {call_id, criterion_id, verdict}")
        verdicts = {(str(r.get("call_id", "")), str(r.get("criterion_id", ""))):
                    (str(r.get("verdict", "")), str(r.get("comment", ""))) for r in rows}
        cs.submit(session_id, user.user_id, verdicts)
        return {"submitted": len(verdicts)}

    @app.post("/api/t/{tenant}/calibration/sessions/{session_id}/close")
    def api_close_session(tenant: str, session_id: int, user: User) -> dict[str, Any]:
        sessions_of(user, tenant, "sessions").close(session_id, actor=user.user_id)
        return {"closed": session_id}

    @app.get("/t/{tenant}/calibration/sessions", response_class=HTMLResponse)
    def sessions_page(request: Request, tenant: str, user: User) -> HTMLResponse:
        cs = sessions_of(user, tenant)
        calls = []
        if allowed(user, "sessions"):
            calls = [_row(r) for r in desk(user, tenant).queue(
                QueueFilter(), limit=MAX_SESSION_CHOICES).rows]
        return page(request, "calibration_sessions.html", user, tenant=tenant,
                    sessions=cs.sessions(), calls=calls,
                    monitors=reviewers_of(tenant) if allowed(user, "sessions") else [])

    @app.get("/t/{tenant}/calibration/sessions/{session_id}", response_class=HTMLResponse)
    def session_page(request: Request, tenant: str, session_id: int,
                     user: User) -> HTMLResponse:
        view = session_view(user, tenant, session_id)
        transcripts: dict[str, list[dict[str, Any]]] = {}
        if view["sheet"] is not None:
            ts = tenant_of(user, tenant)
            for call_id in view["sheet"]:
                conv = for_display(tenant, ts.conversation(call_id)[0])[0].to_dict()
                transcripts[call_id] = conv.get("utterances") or []
        return page(request, "calibration_session.html", user, tenant=tenant, **view,
                    transcripts=transcripts, verdict_choices=SESSION_VERDICTS,
                    min_items=settings.calibration_min_items)

    # --- case library -------------------------------------------------------------------------
    def case_query(criterion_id: str = "", outcome: str = "", sentiment: str = "",
                   phrase: str = "", day_from: str = "", day_to: str = "",
                   label: str = "") -> CaseQuery:
        try:
            return CaseQuery(criterion_id, outcome, sentiment, phrase[:200], day_from, day_to,
                             label)
        except ReviewError as e:
            raise HTTPException(422, str(e)) from None

    Cases = Annotated[CaseQuery, Depends(case_query)]

    # Calls a monitor still scores blind are left out of the case library (its results
    # show the automated verdicts).
    def case_rows(user: UserAccount, tenant: str, q: CaseQuery) -> list[dict[str, Any]]:
        hidden = blind_calls(user, tenant)
        return [r for r in library(user, tenant).search(q) if r["call_id"] not in hidden]

    def exemplar_rows(user: UserAccount, tenant: str, criterion_id: str,
                      min_confidence: float = 0.8) -> dict[str, list[dict[str, Any]]]:
        hidden = blind_calls(user, tenant)
        ex = library(user, tenant).exemplars(criterion_id, min_confidence=min_confidence)
        return {k: [_row(e) for e in v if e.call_id not in hidden] for k, v in ex.items()}

    @app.get("/api/t/{tenant}/cases")
    def api_cases(tenant: str, user: User, q: Cases) -> list[dict[str, Any]]:
        return case_rows(user, tenant, q)

    @app.get("/t/{tenant}/cases", response_class=HTMLResponse)
    def cases_page(request: Request, tenant: str, user: User, q: Cases) -> HTMLResponse:
        return page(request, "cases.html", user, tenant=tenant, rows=case_rows(user, tenant, q),
                    q=dict(request.query_params), criteria=library(user, tenant).criteria(),
                    exemplars=exemplar_rows(user, tenant, q.criterion_id)
                    if q.criterion_id else {})

    @app.get("/api/t/{tenant}/cases/exemplars")
    def api_exemplars(tenant: str, user: User, criterion_id: str,
                      min_confidence: float = Query(0.8, ge=0, le=1)) -> dict[str, Any]:
        return exemplar_rows(user, tenant, criterion_id, min_confidence)

    @app.post("/api/t/{tenant}/cases/tags")
    async def api_tag(request: Request, tenant: str, user: User) -> dict[str, Any]:
        lib = library(user, tenant, "tag")
        body = await json_body(request)
        tid = lib.tag(str(body.get("call_id", "")), str(body.get("label", "")),
                      tagged_by=user.user_id, criterion_id=str(body.get("criterion_id", "")),
                      note=str(body.get("note", ""))[:2000])
        return {"tag_id": tid}

    @app.delete("/api/t/{tenant}/cases/tags/{tag_id}")
    def api_untag(tenant: str, tag_id: int, user: User) -> dict[str, Any]:
        library(user, tenant, "tag").untag(tag_id, actor=user.user_id)
        return {"deleted": tag_id}

    @app.get("/api/t/{tenant}/cases/pack")
    def api_case_pack(tenant: str, user: User,
                      call_id: Annotated[list[str] | None, Query()] = None,
                      criterion_id: str = "") -> Response:
        if not call_id:
            raise HTTPException(422, "tick at least one call for the case pack")
        if len(call_id) > 50:
            raise HTTPException(422, "at most 50 calls per case pack")
        if set(call_id) & blind_calls(user, tenant):
            raise HTTPException(403, "a call of this pack is in a calibration session you "
                                     "have not handed in yet")
        data = library(user, tenant).case_pack(call_id, criterion_id=criterion_id)
        name = f"case-pack-{tenant}-{settings.today().isoformat()}.zip"
        return Response(data, media_type="application/zip",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    # --- dashboards ---------------------------------------------------------------------------
    def dash(user: UserAccount, tenant: str, grouping: str, f: DashboardFilter,
             action: str = "dashboard") -> dict[str, Any]:
        ts = tenant_of(user, tenant, action)
        only = user.agent_id if user.role == "agent" else ""
        if grouping not in GROUPINGS:
            raise HTTPException(422, f"grouping must be one of {', '.join(GROUPINGS)}")
        if not settings.dashboard_cache_entries:
            return summary(ts, grouping, f, only_agent=only)
        # Managers open the same dashboards over and over between batches: reuse a summary
        # while the tenant's data version (newest card, review, audit entry) is unchanged.
        key = (tenant, grouping, f, only)
        version = data_version(ts)
        with cache_lock:
            hit = dash_cache.get(key)
            if hit is not None and hit[0] == version:
                dash_cache.move_to_end(key)
                return hit[1]
        result = summary(ts, grouping, f, only_agent=only)
        with cache_lock:
            dash_cache[key] = (version, result)
            while len(dash_cache) > settings.dashboard_cache_entries:
                dash_cache.popitem(last=False)
        return result

    def dash_filter(tenant: str, user: User, day_from: str = "", day_to: str = "",
                    team: str = "", agent: str = "", all_time: str = "") -> DashboardFilter:
        for d in (day_from, day_to):
            _day(d)
        if _flag(all_time):
            # "All time" wins over dates the form still carries from the last period.
            return DashboardFilter("", "", team, agent)
        if not (day_from or day_to):
            # The 30 call days up to the tenant's newest data: a batch scored last quarter
            # still shows, and the page names the period it covers.
            ts = tenant_of(user, tenant)
            latest = latest_call_day(ts, only_agent=user.agent_id if user.role == "agent"
                                     else "") or settings.today()
            day_from = (latest - dt.timedelta(days=DEFAULT_PERIOD_DAYS - 1)).isoformat()
            day_to = latest.isoformat()
        return DashboardFilter(day_from, day_to, team, agent)

    DFilter = Annotated[DashboardFilter, Depends(dash_filter)]

    @app.get("/api/t/{tenant}/dashboard")
    def api_dashboard(tenant: str, user: User, f: DFilter,
                      grouping: str = "agent") -> dict[str, Any]:
        return dash(user, tenant, grouping, f)

    @app.get("/t/{tenant}/dashboard", response_class=HTMLResponse)
    def dashboard_page(request: Request, tenant: str, user: User, f: DFilter,
                       grouping: str = "agent") -> HTMLResponse:
        return page(request, "dashboard.html", user, tenant=tenant, grouping=grouping,
                    groupings=list(GROUPINGS), q={**request.query_params,
                                                  "day_from": f.day_from, "day_to": f.day_to},
                    **dash(user, tenant, grouping, f))

    @app.get("/api/t/{tenant}/dashboard/export.{fmt}")
    def api_export(tenant: str, fmt: str, user: User, f: DFilter,
                   grouping: str = "agent") -> Response:
        if fmt not in ("csv", "xlsx"):
            raise HTTPException(404, "not found")
        d = dash(user, tenant, grouping, f, "export")
        name = f"kpis-{tenant}-{grouping}.{fmt}"
        disposition = {"Content-Disposition": f'attachment; filename="{name}"'}
        if fmt == "csv":
            return Response(to_csv(d["kpis"], kpi_columns(grouping)),
                            media_type="text/csv; charset=utf-8", headers=disposition)
        sheets = {"kpis": d["kpis"], "coverage": d["coverage"],
                  "top_failing": d["top_failing"],
                  "grades": [{"grade": g, "calls": n} for g, n in d["grades"].items()],
                  "call_reasons": [{"call_reason": k, "calls": n}
                                   for k, n in d["call_reasons"].items()]}
        headers = {"kpis": kpi_columns(grouping),
                   "coverage": ["agent", "days", "days_covered", "calls", "monitored",
                                "coverage_rate", "meets_target"],
                   "top_failing": ["criterion_id", "severity", "failures"],
                   "grades": ["grade", "calls"], "call_reasons": ["call_reason", "calls"]}
        return Response(to_xlsx(sheets, headers), headers=disposition, media_type=(
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))

    @app.exception_handler(QAPipelineError)
    async def _other(request: Request, exc: QAPipelineError) -> Response:
        return error_response(request, 422, str(exc))

    return app


LOW_CONFIDENCE = 0.5
"""Words the recogniser was less sure of than this are shaded on the call page."""

JS_MESSAGES = (
    _("saved"), _("score"), _("dispute opened"), _("tagged as"),
    _("all remaining verdicts confirmed"), _("pass"), _("fail"), _("not applicable"),
    _("needs review"), _("a comment is required to overturn a fatal item"),
    _("lines pointed at"),
)
"""Messages the call page's script shows, translated on the server."""


def _matched_texts(card: dict[str, Any]) -> dict[int, list[str]]:
    """Per utterance, the texts that rules matched there (their words are highlighted)."""
    found: dict[int, list[str]] = {}
    for item in card.get("items") or ():
        for e in item.get("evidence") or ():
            idx = int(e.get("utterance_index", -1))
            text = ((e.get("match") or {}).get("matched_text") or "").strip()
            if idx >= 0 and text:
                found.setdefault(idx, []).append(_fold(text))
    return found


def _fold(text: str) -> str:
    return "".join(ch for ch in text.casefold() if ch.isalnum() or ch.isspace())


def word_is_hit(word: str, matched: list[str]) -> bool:
    """Whether a transcript word is part of a matched text (whole words for spaced
    languages, characters for Chinese).
    """
    w = _fold(word).strip()
    if not w:
        return False
    for m in matched:
        if " " in m or w.isascii():
            if w in m.split():
                return True
        elif w in m:
            return True
    return False


def empty_store_warning(store: Store) -> str:
    """A warning when the store holds no scorecard at all (empty string otherwise).

    The usual cause is a copy of an SQLite store taken with ``cp`` while its data still sat
    in the ``-wal`` file: the copy opens fine and shows "0 calls".
    """
    total = 0
    for tenant_id in store.tenant_ids():
        total += store.tenant(tenant_id).count_scorecards()
        if total:
            return ""
    return (f"the store {store.display_url} holds no scorecards. If it is a copy of an SQLite "
            "store, copy it with `qa-pipeline db backup FILE` (a plain file copy misses the "
            "data still in the -wal file); otherwise run `qa-pipeline run` first.")


def _row(obj: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(obj)


def _flag(value: str) -> bool | None:
    if value in ("", "any"):
        return None
    if value in ("1", "true", "yes"):
        return True
    if value in ("0", "false", "no"):
        return False
    raise HTTPException(422, f"expected true/false, got {value!r}")


def _day(value: str, plus_days: int = 0) -> dt.datetime | None:
    if not value:
        return None
    try:
        d = dt.date.fromisoformat(value)
    except ValueError:
        raise HTTPException(422, f"dates are YYYY-MM-DD, got {value!r}") from None
    return dt.datetime.combine(d, dt.time()) + dt.timedelta(days=plus_days)


def _safe_next(value: str) -> str:
    # Only same-site paths: "//evil.example" and "https://..." would redirect off-site.
    return value if value.startswith("/") and not value.startswith("//") else "/"


def _audio_type(path: Path) -> str:
    return {".wav": "audio/wav", ".mp3": "audio/mpeg", ".flac": "audio/flac",
            ".ogg": "audio/ogg", ".m4a": "audio/mp4"}.get(path.suffix.lower(),
                                                          "application/octet-stream")


def _sentiment_curve(card: dict[str, Any], conv: dict[str, Any]) -> dict[str, Any]:
    """Points of the sentiment curve (utterance midpoint, score) per role, for an SVG."""
    items = ((card.get("sentiment") or {}).get("items")) or []
    utts = {u["index"]: u for u in conv.get("utterances") or []}
    duration = float(conv.get("duration_s") or 1.0) or 1.0
    points: dict[str, list[tuple[float, float]]] = {}
    for it in items:
        u = utts.get(it["utterance_index"])
        if u is None:
            continue
        x = 1000.0 * (u["start_s"] + u["end_s"]) / 2 / duration
        y = 50.0 - 45.0 * float(it["score"])
        points.setdefault(u.get("role", "unknown"), []).append((round(x, 1), round(y, 1)))
    return {role: " ".join(f"{x},{y}" for x, y in pts) for role, pts in points.items()}
