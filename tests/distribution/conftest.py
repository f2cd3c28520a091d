"""The distribution tests run in step mode on the default KB936465 hierarchy: the `lab` fixture
(tests/conftest.py) is the plugin's `sitesrv_lab`, and the helpers come from sitesrv.testing."""
