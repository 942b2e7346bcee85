"""Drop repeated <script> blocks from every page.

sphinx-thebe and sphinx-togglebutton register their inline configuration
scripts again when the build reads the sources a second time, so every page
declared `const THEBE_JS_URL` twice: a SyntaxError in the browser console,
which the browser test catches. This keeps the first copy of each script.
The copies differ only in an empty filename given as None or as "".
"""


def _key(script):
    attributes = tuple(sorted((k, str(v)) for k, v in script.attributes.items()))
    return (str(script.filename or ""), attributes)


def drop_repeated_scripts(app, pagename, templatename, context, doctree):
    seen, unique = set(), []
    for script in context.get("script_files", []):
        key = _key(script)
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app):
    # last, after the handlers that add scripts to the page
    app.connect("html-page-context", drop_repeated_scripts, priority=999)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
