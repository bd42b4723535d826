from django.contrib import admin

from inference.models import JobItem, ModelVersion, SegmentationJob


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "version", "is_current", "diam_mean", "created_at"]
    readonly_fields = ["sha256", "nbase", "diam_mean"]


class JobItemInline(admin.TabularInline):
    model = JobItem
    extra = 0
    raw_id_fields = ["image"]
    readonly_fields = ["status", "error", "n_masks", "diameter", "flows", "timings", "finished_at"]


@admin.register(SegmentationJob)
class SegmentationJobAdmin(admin.ModelAdmin):
    list_display = ["id", "owner", "status", "stage", "progress", "model_version", "created_at", "finished_at"]
    list_filter = ["status"]
    search_fields = ["owner__username"]
    inlines = [JobItemInline]
