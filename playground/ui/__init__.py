"""Streamlit helpers shared by every page (the only package layer that imports Streamlit)."""
