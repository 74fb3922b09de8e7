"""Plotly figure builders: arrays in, ``go.Figure`` out. Never imports Streamlit."""
