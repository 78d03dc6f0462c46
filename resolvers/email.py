"""Outgoing mail API: SMTP settings, the connection test, email templates and their tags.

Admin only, except the tag list. The SMTP password is input-only (`hasPassword` on output).
Saving a sender address that no active scanner reads is allowed but answered with a typed
warning: replies to such mail would never come back as comments.
"""
from __future__ import annotations

import strawberry

from .. import models
from ..outbound.compose import InvalidAddress, validated_address
from ..outbound.render import check_render
from ..outbound.template_tags import COMMENTS_TAG, TICKET_NO_TAG, list_template_tags
from ..outbound.templates import TemplateError, TemplateLimitError, validate_template
from ..schema.email import (
    EmailTemplateInput,
    EmailTemplatePayload,
    EmailTemplateResult,
    EmailTemplateType,
    SmtpSettingsInput,
    SmtpSettingsPayload,
    SmtpSettingsType,
    SmtpTestFailure,
    SmtpTestSuccess,
    SmtpWarning,
    SmtpWarningCode,
    TemplateTagType,
    TemplateWarning,
    TemplateWarningCode,
    TestSmtpSettingsResult,
    UpdateSmtpSettingsResult,
)
from ..schema.errors import ErrorCode, InputErrors
from ..transport.smtp import SmtpError, config_from_settings, test_smtp_connection
from .common import get_or_none, not_found, parse_id
from .context import Info
from .permissions import IsAdmin, IsAgent
from .validation import check_host, check_length, check_port, check_required

_SMTP_FIELDS = ("host", "port", "security", "validate_certificate", "auth", "username",
                "sender_name")


async def _current_smtp() -> models.SmtpSettings:
    row = await models.SmtpSettings.all().order_by("id").first()
    return row if row is not None else models.SmtpSettings()


async def _apply_smtp(row: models.SmtpSettings, data: SmtpSettingsInput) -> InputErrors:
    errors = InputErrors()
    check_host(errors, "input.host", data.host)
    check_port(errors, "input.port", data.port)
    check_length(errors, "input.senderName", data.sender_name, 200)
    for name in _SMTP_FIELDS:
        value = getattr(data, name)
        if value is not None:
            setattr(row, name, value.strip() if isinstance(value, str) else value)
    if data.sender_address is not None:
        try:
            row.sender_address = validated_address(data.sender_address)
        except InvalidAddress as exc:
            errors.add("input.senderAddress", ErrorCode.INVALID_EMAIL, str(exc))
    if data.oauth_account_id is not None:
        account_id = parse_id(data.oauth_account_id, "input.oauthAccountId", errors)
        if account_id and not await models.OAuthAccount.exists(id=account_id):
            errors.add("input.oauthAccountId", ErrorCode.NOT_FOUND,
                       "No such authorized account")
        row.oauth_account_id = account_id
    if data.clear_password:
        row.set_password(None)
    if data.password is not None:
        row.set_password(data.password)
    reported = {e.field for e in errors.errors}
    for field, value in (("input.host", row.host), ("input.senderAddress", row.sender_address)):
        if field not in reported:
            check_required(errors, field, value)
    if row.auth == models.SmtpAuth.PASSWORD:
        check_required(errors, "input.username", row.username)
    await _check_smtp_oauth(errors, row)
    return errors


_SMTP_PROVIDER = {models.SmtpAuth.MICROSOFT_OAUTH: models.OAuthProvider.MICROSOFT,
                  models.SmtpAuth.GOOGLE_OAUTH: models.OAuthProvider.GOOGLE}


async def _check_smtp_oauth(errors: InputErrors, row: models.SmtpSettings) -> None:
    """XOAUTH2 sending with an account needs one of the selected provider. (Gmail sends as
    the account or one of its verified "send mail as" aliases, so the sender is not checked.)"""
    wanted = _SMTP_PROVIDER.get(row.auth)
    if wanted is None:
        return
    label = "Google" if wanted == models.OAuthProvider.GOOGLE else "Microsoft"
    account_id = row.oauth_account_id  # type: ignore[attr-defined]
    if account_id is None:
        errors.add("input.oauthAccountId", ErrorCode.REQUIRED,
                   f"Choose the authorized {label} account to send with")
        return
    account = await models.OAuthAccount.get_or_none(id=account_id)
    if account is None:
        return  # reported above
    if account.provider != wanted:
        errors.add("input.oauthAccountId", ErrorCode.INVALID,
                   f"This is not a {label} account; choose an authorized {label} account")


def received_addresses(scanner: models.Scanner) -> set[str]:
    """The addresses a scanner's mailbox receives mail for: its explicit address, its mailbox
    name, and its login when that is an address (a login like `helpdesk01` is not one)."""
    candidates = (scanner.address, scanner.mailbox_name, scanner.username)
    return {a.strip().casefold() for a in candidates if a and "@" in a}


async def _sender_warnings(row: models.SmtpSettings) -> list[SmtpWarning]:
    sender = row.sender_address.casefold()
    scanned = {a for s in await models.Scanner.filter(active=True)
               for a in received_addresses(s)}
    if sender and sender not in scanned:
        return [SmtpWarning(
            code=SmtpWarningCode.SENDER_NOT_SCANNED,
            message=f"No active scanner reads {row.sender_address}: customers' replies to "
                    "comment emails will not come back as comments. (A scanner reads the "
                    "address of its username or mailbox name, or the address set on it.)")]
    return []


async def _validate_template(data: EmailTemplateInput, creating: bool,
                             row: models.EmailTemplate | None = None) -> InputErrors:
    errors = InputErrors()
    if creating:
        for name in ("name", "subject", "body"):
            check_required(errors, f"input.{name}", getattr(data, name))
    check_length(errors, "input.name", data.name, 200)
    check_length(errors, "input.subject", data.subject, 998)
    check_length(errors, "input.body", data.body, 200_000)
    for name in ("subject", "body"):
        text = getattr(data, name)
        if text is None:
            continue
        try:
            validate_template(text if name == "subject" else "", text if name == "body" else "")
        except TemplateError as exc:
            errors.add(f"input.{name}", ErrorCode.INVALID_TEMPLATE, exc.message, line=exc.line)
    if not errors.errors and (data.subject is not None or data.body is not None):
        await _test_render(data, row, errors)
    return errors


async def _test_render(data: EmailTemplateInput, row: models.EmailTemplate | None,
                       errors: InputErrors) -> None:
    """Render with sample data under the send-time limits: what fails now would fail for
    every comment (render.py). Only the part that changed can be blamed."""
    subject = data.subject if data.subject is not None else (row.subject if row else "")
    body = data.body if data.body is not None else (row.body if row else "")
    failure = await check_render(subject, body)
    if failure is None:
        return
    part, exc = failure
    if getattr(data, part) is None:  # the stored part only fails together with the new one
        part = "body" if part == "subject" else "subject"
    code = (ErrorCode.TEMPLATE_LIMIT if isinstance(exc, TemplateLimitError)
            else ErrorCode.INVALID_TEMPLATE)
    errors.add(f"input.{part}", code, exc.message)


def _template_warnings(row: models.EmailTemplate) -> list[TemplateWarning]:
    """The comment template without its ticket number or comments still saves, but replies
    then cannot find their ticket, or the customer does not see what was written."""
    if row.key != models.TICKET_COMMENT_TEMPLATE:
        return []
    warnings: list[TemplateWarning] = []
    if f"${TICKET_NO_TAG}$" not in row.subject:
        warnings.append(TemplateWarning(
            code=TemplateWarningCode.MISSING_TICKET_NUMBER, field="input.subject",
            message=f"The subject has no ${TICKET_NO_TAG}$: the ticket number is added in front "
                    "of it, but replies to a subject edited by the customer may not find their "
                    "ticket. Keep the tag in the subject."))
    if f"${COMMENTS_TAG}$" not in row.body:
        warnings.append(TemplateWarning(
            code=TemplateWarningCode.MISSING_COMMENTS, field="input.body",
            message=f"The body has no ${COMMENTS_TAG}$: the customer will not see the comment "
                    "that was written."))
    return warnings


def _apply_template(row: models.EmailTemplate, data: EmailTemplateInput) -> None:
    for name in ("name", "subject", "body", "active"):
        value = getattr(data, name)
        if value is not None:
            setattr(row, name, value)
    if data.send_to is not None:
        row.send_to = list(dict.fromkeys(r.value for r in data.send_to))


@strawberry.type
class EmailQueries:
    @strawberry.field(permission_classes=[IsAdmin], description="Outgoing mail server settings")
    async def smtp_settings(self, info: Info) -> SmtpSettingsType:
        return SmtpSettingsType.from_model(await _current_smtp())

    @strawberry.field(permission_classes=[IsAdmin])
    async def email_templates(self, info: Info) -> list[EmailTemplateType]:
        rows = await models.EmailTemplate.all().order_by("id")
        return [EmailTemplateType.from_model(r) for r in rows]

    @strawberry.field(permission_classes=[IsAgent], description="Tags usable in email templates")
    async def template_tags(self, info: Info) -> list[TemplateTagType]:
        return [TemplateTagType.from_tag(t) for t in list_template_tags()]


@strawberry.type
class EmailMutations:
    @strawberry.mutation(permission_classes=[IsAdmin], description=(
        "Save the SMTP settings. Warns when no active scanner reads the sender address."))
    async def update_smtp_settings(self, info: Info,
                                   input: SmtpSettingsInput) -> UpdateSmtpSettingsResult:
        row = await _current_smtp()
        errors = await _apply_smtp(row, input)
        if errors.errors:
            return errors.as_result()
        await row.save()
        return SmtpSettingsPayload(smtp_settings=SmtpSettingsType.from_model(row),
                                   warnings=await _sender_warnings(row))

    @strawberry.mutation(permission_classes=[IsAdmin], description=(
        "Connect and log in with the saved settings, overlaid with `input` if given (not saved)."))
    async def test_smtp_settings(self, info: Info,
                                 input: SmtpSettingsInput | None = None) -> TestSmtpSettingsResult:
        row = await _current_smtp()
        if input is not None:
            errors = await _apply_smtp(row, input)
            if errors.errors:
                return errors.as_result()
        try:
            await test_smtp_connection(config_from_settings(row, timeout=15))
        except SmtpError as exc:
            return SmtpTestFailure(code=exc.code, message=exc.message, temporary=exc.temporary)
        return SmtpTestSuccess(
            message=f"Connected to {row.host}:{row.effective_port} and logged in.")

    @strawberry.mutation(permission_classes=[IsAdmin])
    async def create_email_template(self, info: Info,
                                    input: EmailTemplateInput) -> EmailTemplateResult:
        errors = await _validate_template(input, creating=True)
        if errors.errors:
            return errors.as_result()
        row = models.EmailTemplate(send_to=["contact_email"])
        _apply_template(row, input)
        await row.save()
        return EmailTemplatePayload(email_template=EmailTemplateType.from_model(row))

    @strawberry.mutation(permission_classes=[IsAdmin])
    async def update_email_template(self, info: Info, id: strawberry.ID,
                                    input: EmailTemplateInput) -> EmailTemplateResult:
        row = await get_or_none(models.EmailTemplate, id)
        if row is None:
            return not_found("EmailTemplate", id)
        errors = await _validate_template(input, creating=False, row=row)
        if errors.errors:
            return errors.as_result()
        _apply_template(row, input)
        await row.save()
        return EmailTemplatePayload(email_template=EmailTemplateType.from_model(row),
                                    warnings=_template_warnings(row))
