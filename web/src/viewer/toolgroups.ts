/**
 * The three tool groups: stack viewports, MPR viewports and the 3D viewport. Each has
 * fixed bindings for the wheel, right and middle buttons and one selectable tool on the
 * left button.
 */
import {
  AngleTool,
  ArrowAnnotateTool,
  CrosshairsTool,
  EllipticalROITool,
  Enums as ToolEnums,
  LengthTool,
  PanTool,
  RectangleROITool,
  StackScrollTool,
  ToolGroupManager,
  TrackballRotateTool,
  WindowLevelTool,
  ZoomTool,
  type Types as ToolTypes,
} from '@cornerstonejs/tools';

const { MouseBindings } = ToolEnums;

export const STACK_GROUP = 'hf-stack';
export const MPR_GROUP = 'hf-mpr';
export const VOLUME3D_GROUP = 'hf-3d';

/** Tools a user can put on the left mouse button, by toolbar id. */
export const LEFT_BUTTON_TOOLS: Record<string, { toolName: string; label: string; key?: string }> = {
  wl: { toolName: WindowLevelTool.toolName, label: 'W/L', key: 'w' },
  pan: { toolName: PanTool.toolName, label: 'Pan', key: 'p' },
  zoom: { toolName: ZoomTool.toolName, label: 'Zoom', key: 'z' },
  scroll: { toolName: StackScrollTool.toolName, label: 'Scroll', key: 's' },
  length: { toolName: LengthTool.toolName, label: 'Length', key: 'l' },
  angle: { toolName: AngleTool.toolName, label: 'Angle', key: 'a' },
  rect: { toolName: RectangleROITool.toolName, label: 'Rect ROI' },
  ellipse: { toolName: EllipticalROITool.toolName, label: 'Ellipse ROI', key: 'e' },
  arrow: { toolName: ArrowAnnotateTool.toolName, label: 'Arrow' },
  crosshairs: { toolName: CrosshairsTool.toolName, label: 'Crosshairs', key: 'c' },
  rotate3d: { toolName: TrackballRotateTool.toolName, label: 'Rotate 3D' },
};

const ANNOTATION_TOOLS = [
  LengthTool.toolName,
  AngleTool.toolName,
  RectangleROITool.toolName,
  EllipticalROITool.toolName,
  ArrowAnnotateTool.toolName,
];

/** Ask for an arrow's label in the page rather than with window.prompt, which blocks. */
export type TextPrompt = (initial: string) => Promise<string | null>;

function arrowConfiguration(prompt: TextPrompt): Record<string, unknown> {
  return {
    getTextCallback: (done: (text: string) => void) => {
      void prompt('').then((text) => done(text ?? ''));
    },
    // The tool passes the annotation (whose data.label holds the text) when the label is
    // double-clicked for editing.
    changeTextCallback: (
      annotation: { data?: { label?: string } },
      _eventData: unknown,
      done: (text: string) => void,
    ) => {
      const current = annotation?.data?.label ?? '';
      void prompt(current).then((text) => done(text ?? current));
    },
  };
}

function fixedBindings(group: ToolTypes.IToolGroup, leftTool: string): void {
  group.setToolActive(StackScrollTool.toolName, { bindings: [{ mouseButton: MouseBindings.Wheel }] });
  group.setToolActive(PanTool.toolName, { bindings: [{ mouseButton: MouseBindings.Auxiliary }] });
  group.setToolActive(ZoomTool.toolName, { bindings: [{ mouseButton: MouseBindings.Secondary }] });
  group.setToolActive(leftTool, { bindings: [{ mouseButton: MouseBindings.Primary }] });
}

export function createToolGroups(prompt: TextPrompt): void {
  const stack = ToolGroupManager.getToolGroup(STACK_GROUP) ?? ToolGroupManager.createToolGroup(STACK_GROUP);
  if (stack && !stack.hasTool(WindowLevelTool.toolName)) {
    for (const name of [WindowLevelTool.toolName, PanTool.toolName, ZoomTool.toolName, StackScrollTool.toolName]) stack.addTool(name);
    for (const name of ANNOTATION_TOOLS) {
      stack.addTool(name, name === ArrowAnnotateTool.toolName ? arrowConfiguration(prompt) : undefined);
    }
    fixedBindings(stack, WindowLevelTool.toolName);
    for (const name of ANNOTATION_TOOLS) stack.setToolPassive(name);
  }

  const mpr = ToolGroupManager.getToolGroup(MPR_GROUP) ?? ToolGroupManager.createToolGroup(MPR_GROUP);
  if (mpr && !mpr.hasTool(CrosshairsTool.toolName)) {
    for (const name of [WindowLevelTool.toolName, PanTool.toolName, ZoomTool.toolName, StackScrollTool.toolName]) mpr.addTool(name);
    mpr.addTool(CrosshairsTool.toolName, {
      // Slab thickness handles on the crosshair lines; rotation stays on.
      mobile: { enabled: false },
    });
    for (const name of ANNOTATION_TOOLS) {
      mpr.addTool(name, name === ArrowAnnotateTool.toolName ? arrowConfiguration(prompt) : undefined);
    }
    // Crosshairs go on the left button once the three viewports exist (volume.ts).
    fixedBindings(mpr, WindowLevelTool.toolName);
    for (const name of ANNOTATION_TOOLS) mpr.setToolPassive(name);
  }

  const vol = ToolGroupManager.getToolGroup(VOLUME3D_GROUP) ?? ToolGroupManager.createToolGroup(VOLUME3D_GROUP);
  if (vol && !vol.hasTool(TrackballRotateTool.toolName)) {
    for (const name of [TrackballRotateTool.toolName, PanTool.toolName, ZoomTool.toolName]) vol.addTool(name);
    vol.setToolActive(PanTool.toolName, { bindings: [{ mouseButton: MouseBindings.Auxiliary }] });
    vol.setToolActive(ZoomTool.toolName, { bindings: [{ mouseButton: MouseBindings.Secondary }] });
    vol.setToolActive(TrackballRotateTool.toolName, { bindings: [{ mouseButton: MouseBindings.Primary }] });
  }
}

/**
 * Put `toolName` on the left button of a group. The tool that had it goes back to its
 * fixed binding (scroll, pan, zoom) or to passive, so its annotations stay editable.
 */
export function setLeftButtonTool(groupId: string, toolName: string): boolean {
  const group = ToolGroupManager.getToolGroup(groupId);
  if (!group || !group.hasTool(toolName)) return false;
  const previous = group.getActivePrimaryMouseButtonTool();
  if (previous === toolName) return true;
  if (previous) {
    if (previous === StackScrollTool.toolName) {
      group.setToolActive(previous, { bindings: [{ mouseButton: MouseBindings.Wheel }] });
    } else if (previous === PanTool.toolName) {
      group.setToolActive(previous, { bindings: [{ mouseButton: MouseBindings.Auxiliary }] });
    } else if (previous === ZoomTool.toolName) {
      group.setToolActive(previous, { bindings: [{ mouseButton: MouseBindings.Secondary }] });
    } else {
      group.setToolPassive(previous);
    }
  }
  // Keep existing bindings (e.g. the wheel for scroll) and add the left button.
  const existing = (group.getToolOptions(toolName)?.bindings ?? []) as ToolTypes.IToolBinding[];
  const bindings = existing.filter((b) => b.mouseButton !== MouseBindings.Primary);
  group.setToolActive(toolName, { bindings: [...bindings, { mouseButton: MouseBindings.Primary }] });
  return true;
}
