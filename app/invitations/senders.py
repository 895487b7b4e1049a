"""How a message leaves pvm: email over SMTP, SMS through a provider.

:class:`SmsProvider` is the small interface an SMS gateway implements; :class:`WebhookSms` is
the one implementation (an HTTP POST of a JSON body built from a template). A sender raises
:class:`SendError` with the reason; ``permanent`` ones (a refused address) are not retried.
"""

from __future__ import annotations

import json
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import httpx

from app.config import Settings


class SendError(Exception):
    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason, self.permanent = reason, permanent


@dataclass(frozen=True)
class Outgoing:
    to: str
    subject: str
    text: str
    lang: str


class Sender(Protocol):
    def send(self, message: Outgoing) -> None: ...


class SmsProvider(Sender, Protocol):
    """An SMS gateway: ``send`` delivers ``message.text`` to the phone number ``message.to``."""


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    tls: bool  # smtps: TLS from the start; smtp: STARTTLS when offered
    user: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> SmtpConfig:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("PVM_SMTP_URL must look like smtp://user:password@host:port")
        tls = parts.scheme == "smtps"
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if tls else 25),
            tls=tls,
            user=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


class SmtpSender:
    def __init__(self, config: SmtpConfig, *, sender: str, timeout: float = 30) -> None:
        self.config, self.sender, self.timeout = config, sender, timeout

    def send(self, message: Outgoing) -> None:
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = self.sender, message.to, message.subject
        mail["Content-Language"] = message.lang
        mail.set_content(message.text)
        c = self.config
        try:
            smtp: smtplib.SMTP
            if c.tls:
                smtp = smtplib.SMTP_SSL(
                    c.host, c.port, timeout=self.timeout, context=ssl.create_default_context()
                )
            else:
                smtp = smtplib.SMTP(c.host, c.port, timeout=self.timeout)
            with smtp:
                smtp.ehlo()
                if not c.tls and smtp.has_extn("starttls"):
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
                if c.user:
                    smtp.login(c.user, c.password or "")
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            raise SendError(f"address refused: {exc.recipients}", permanent=True) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise SendError(f"SMTP: {type(exc).__name__}: {exc}") from None


class WebhookSms:
    """POST ``body_template`` (JSON; ``{to}``, ``{text}``, ``{lang}`` filled in every string
    value) to ``url`` with the ``auth_header`` ("Name: value"). 2xx: sent; 4xx other than 408
    and 429: refused for good; anything else is retried."""

    def __init__(
        self, url: str, *, body_template: str, auth_header: str | None = None, timeout: float = 15
    ) -> None:
        self.url, self.timeout = url, timeout
        self.template = json.loads(body_template)
        self.headers = {}
        if auth_header:
            name, _, value = auth_header.partition(":")
            self.headers[name.strip()] = value.strip()

    def body(self, message: Outgoing) -> Any:
        values = {"to": message.to, "text": message.text, "lang": message.lang}

        def fill(node: Any) -> Any:
            if isinstance(node, str):
                for name, value in values.items():
                    node = node.replace("{" + name + "}", value)
                return node
            if isinstance(node, dict):
                return {k: fill(v) for k, v in node.items()}
            if isinstance(node, list):
                return [fill(v) for v in node]
            return node

        return fill(self.template)

    def send(self, message: Outgoing) -> None:
        try:
            reply = httpx.post(
                self.url, json=self.body(message), headers=self.headers, timeout=self.timeout
            )
        except httpx.HTTPError as exc:
            raise SendError(f"SMS webhook: {type(exc).__name__}: {exc}") from None
        if reply.is_success:
            return
        permanent = 400 <= reply.status_code < 500 and reply.status_code not in (408, 429)
        raise SendError(
            f"SMS webhook answered {reply.status_code}: {reply.text[:200]}", permanent=permanent
        )


def email_sender(settings: Settings) -> Sender | None:
    if not settings.smtp_url:
        return None
    sender = settings.smtp_from or "pvm@localhost"
    config = SmtpConfig.parse(settings.smtp_url)
    return SmtpSender(config, sender=sender, timeout=settings.smtp_timeout_s)


def sms_provider(settings: Settings) -> SmsProvider | None:
    if not settings.sms_webhook_url:
        return None
    return WebhookSms(
        settings.sms_webhook_url,
        body_template=settings.sms_webhook_body,
        auth_header=settings.sms_webhook_auth_header,
        timeout=settings.sms_timeout_s,
    )
