"""Reusable widgets: the terminal view, the app bar with the approval count, the replay progress bar."""
