"""The screens: sessions, live view, approvals, replay, audit, and the modal dialogs."""
