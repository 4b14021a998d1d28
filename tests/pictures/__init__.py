"""Pictures: every plot rendered to a real PNG and its plotted data checked."""
