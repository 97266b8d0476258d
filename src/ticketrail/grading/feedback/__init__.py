"""A student's feedback: one model (model.py) built from the records, drawn three ways: Markdown
(markdown.py), a self-contained HTML page with the latency timelines drawn (html.py), and Gradescope's
results.json (gradescope.py). Hidden tests show their name and outcome only, on every surface."""
