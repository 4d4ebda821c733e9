"""Offline fitting, calibration and evaluation of the shipped directions (editor.directions loads them)."""
