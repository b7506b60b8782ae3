"""Settings installing the apps of the real packages the tests read (wagtail, django-oscar, django-cms,
django-allauth, django-taggit), so Django's own loader can be asked about their migrations."""
SETTINGS = """
from oscar import INSTALLED_APPS as OSCAR_APPS
from oscar.defaults import *  # noqa: F401,F403  (settings oscar reads at import time)
SECRET_KEY = "x"
INSTALLED_APPS = OSCAR_APPS + [
    "wagtail.contrib.forms", "wagtail.contrib.redirects", "wagtail.contrib.settings",
    "wagtail.contrib.search_promotions", "wagtail.contrib.simple_translation",
    "wagtail.embeds", "wagtail.sites", "wagtail.users", "wagtail.snippets", "wagtail.documents",
    "wagtail.images", "wagtail.search", "wagtail.admin", "wagtail.locales", "wagtail",
    "modelcluster", "taggit",
    "cms", "menus", "sekizai",
    "allauth", "allauth.account", "allauth.socialaccount", "allauth.mfa", "allauth.usersessions", "allauth.idp.oidc",
]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
HAYSTACK_CONNECTIONS = {"default": {"ENGINE": "haystack.backends.simple_backend.SimpleEngine"}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
SITE_ID = 1
STATIC_URL = "/static/"
LANGUAGES = [("en", "English")]
CMS_TEMPLATES = [("base.html", "Base")]
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True, "OPTIONS": {
    "context_processors": ["django.template.context_processors.request", "sekizai.context_processors.sekizai",
                           "cms.context_processors.cms_settings"]}}]
MIDDLEWARE = ["allauth.account.middleware.AccountMiddleware"]
"""
