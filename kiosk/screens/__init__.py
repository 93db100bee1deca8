"""The kiosk's screens: one ``<name>.py`` + ``<name>.kv`` per screen, named after flow states.

Importing this package loads no Kivy; ``kiosk.screens.common`` registers the font and the
shared widgets, and each screen module loads its own kv file once at import.
"""

SCREEN_MODULES = ("paused", "idle", "rate", "follow_up", "thanks", "retry", "technician")
