"""The app's screens: scenario picker, run, help."""
