"""All models, re-exported so Alembic and the rest of Ibex see one namespace."""
from app.models.accounts import (ALL_PERMISSIONS, ALL_SITES, PERMISSION_LABELS, PERMISSIONS,
                                 ROLES, ApiToken, AppState, User, default_user_settings)
from app.models.dimensions import (Browser, Campaign, City, Language, Location, Path, Ref, System,
                                   Url)
from app.models.hits import BotHit, Hit, IngestBatch, Visit, VisitHour, VisitorSession
from app.models.jobs import Export, Import, ImportedHit
from app.models.rollups import (BrowserStat, CampaignStat, HitCount, LanguageStat, LocationStat,
                                RefCount, SiteHour, SiteStat, SizeStat, SystemStat)
from app.models.sites import (COLLECT_DEFAULT, COLLECT_LABELS, IP_MODES, VISIBILITY, Collect,
                              IgnoredIp, Site, default_site_settings)
from app.models.umami import UmamiLoginToken

__all__ = [
    "ALL_PERMISSIONS", "ALL_SITES", "PERMISSION_LABELS", "PERMISSIONS", "ROLES", "ApiToken",
    "AppState", "User", "default_user_settings", "Browser", "Campaign", "City", "Language", "Location",
    "Path", "Ref", "System", "Url", "BotHit", "Hit", "IngestBatch", "Visit", "VisitHour",
    "VisitorSession",
    "Export", "Import", "ImportedHit", "BrowserStat", "CampaignStat", "HitCount", "LanguageStat",
    "LocationStat", "RefCount", "SiteHour", "SiteStat", "SizeStat", "SystemStat",
    "COLLECT_DEFAULT", "COLLECT_LABELS",
    "IP_MODES", "VISIBILITY", "Collect", "IgnoredIp", "Site", "default_site_settings",
    "UmamiLoginToken",
]
