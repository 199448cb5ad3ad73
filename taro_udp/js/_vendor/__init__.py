"""sucrase, bundled into one script (tools/vendor_sucrase.sh); its licences are in LICENSE."""
