from django.contrib import admin

from annotations.models import Annotation, Image


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "owner", "shape", "axes", "size_bytes", "created_at"]
    list_filter = ["is_3d"]
    search_fields = ["name", "owner__username", "sha256"]
    readonly_fields = ["file", "thumbnail", "shape", "dtype", "axes", "is_3d", "n_channels", "size_bytes", "sha256"]


@admin.register(Annotation)
class AnnotationAdmin(admin.ModelAdmin):
    list_display = ["id", "image", "version", "source", "base_version", "n_masks", "created_by", "created_at"]
    list_filter = ["source"]
    search_fields = ["image__name"]
    raw_id_fields = ["image", "job"]
