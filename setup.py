"""Counter satisfaction kiosk: the kiosk app, its sync client and the aggregation server."""

from pathlib import Path

from setuptools import Extension, find_packages, setup

HERE = Path(__file__).parent

setup(
    name="counter-satisfaction-kiosk",
    version="0.1.0",
    description="Counter satisfaction kiosk (窗口服务好差评): kiosk app, sync and aggregation server",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.11",
    packages=find_packages(include=["kiosk", "kiosk.*", "sync", "sync.*", "aggregator", "aggregator.*"])
    + ["kiosk_assets"],
    # The top-level assets/ folder (fonts, images, voice prompts) installs as kiosk_assets.
    package_dir={"kiosk_assets": "assets"},
    package_data={
        "kiosk_assets": ["*.md", "*.txt", "fonts/*", "images/*", "sounds/*"],
        "kiosk": ["screens/*.kv", "locale/*.json"],
        "aggregator": ["templates/*", "_fastcheck.c"],
        # the dashboard's pages and files: a non-editable install without them could not serve
        "aggregator.dashboard": ["templates/*", "static/*"],
    },
    include_package_data=True,
    # The compiled checks of the usual batch event (aggregator/_fastcheck.c). Optional: without
    # a C compiler and Python's headers the server runs the same checks in Python, slower.
    ext_modules=[Extension("aggregator._fastcheck", ["aggregator/_fastcheck.c"],
                           extra_compile_args=["-O2"], optional=True)],
    install_requires=[
        "kivy[base]>=2.3,<2.4",
        "sqlite-utils>=4.2,<5",
        "requests>=2.31,<3",
        "qrcode>=7,<9",
        "PyYAML>=6,<7",
        "PyNaCl>=1.5,<2",   # Ed25519 device signatures (libsodium)
    ],
    extras_require={
        "aggregator": [
            "fastapi>=0.110,<1",
            "uvicorn>=0.29,<1",
            # uvicorn's C HTTP parser and event loop ("uvicorn[standard]" without the rest):
            # its pure-Python h11 parsed every 100-260 KB batch body in Python.
            "httptools>=0.6,<1",
            "uvloop>=0.19,<1",
            "SQLAlchemy>=2,<3",
            "psycopg[binary]>=3.1,<4",
            "orjson>=3.9,<4",
            "openpyxl>=3.1,<4",
            "Pillow>=10,<12",   # staff photos scaled and turned upright at upload
            "python-multipart>=0.0.9",
            "Jinja2>=3.1,<4",
            "argon2-cffi>=23,<27",
            "prometheus-client>=0.20,<1",
        ],
        "test": [
            "pytest>=8,<10",
            "pytest-timeout>=2.3",
            "hypothesis>=6",
            "ruff>=0.5",
            "fonttools>=4.50",
            "schemathesis>=4,<5",
            # The Python driver only: the browser is Debian's chromium, never a download.
            "playwright>=1.40,<2",
        ],
    },
    entry_points={
        "console_scripts": [
            "kiosk=kiosk.cli:main",
            "aggregator=aggregator.cli:main",
        ]
    },
)
