"""Streamlit-side helpers: the cached engine and loaders, figure builders, shared widgets."""
